# Issue 26: the roofline stage rehearses here (launch/roofline.py --rehearse:
# `wideep roofline --backend host`, `wideep run` on one rank, the PyTorch
# layer on the CPU, at a tiny shape) and prints a line per measure; bad
# options of `wideep roofline` exit 2 naming the option.
add_test(NAME roofline_rehearsal
         COMMAND bash ${CMAKE_SOURCE_DIR}/tests/expect.sh --rc 0
                 --match "^roofline_permute_T128 .*GB/s .*ratio .*goal >= 0.70"
                 --match "^roofline_gemm_cblas_T128 .*TFLOP/s"
                 --match "^roofline_host_us_per_layer_T32 "
                 --match "^roofline_vs_torch_T128 .*ratio +[0-9.]+ +goal <= 1.0"
                 --match "22 measure\\(s\\), 0 failure"
                 -- /usr/bin/python3 ${CMAKE_SOURCE_DIR}/launch/roofline.py --rehearse
                 --bin $<TARGET_FILE_DIR:wideep> --out ${CMAKE_BINARY_DIR}/test_out/roofline)
set_tests_properties(roofline_rehearsal PROPERTIES TIMEOUT 120 LABELS "roofline;mpi"
                     ENVIRONMENT "OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1")
wideep_cli_test(NAME roofline_bad_backend RC 2 ARGS roofline --backend tpu MATCH "--backend 'tpu'")
wideep_cli_test(NAME roofline_bad_tokens RC 2 ARGS roofline --backend host --tokens 128,0 MATCH "--tokens '128,0'")
wideep_cli_test(NAME roofline_bad_topk RC 2 ARGS roofline --backend host --experts 4 --topk 8 MATCH "--topk")
# unpermute_combine at T 8, K 2, H 128, bf16: y 16 x 128 x 2 + pair_pos and w 2 x 16 x 4 + 8 rows x 256 B = 6272 B.
wideep_cli_test(NAME roofline_host_table ARGS roofline --backend host --tokens 8 --hidden 128 --ffn 64 --experts 8
                --topk 2 --iters 1 --warmup 0
                MATCH "^ +8 unpermute_combine +6272 " "^ +8 gemm cblas" "layer_kernels")
wideep_cli_test(NAME dump_layer_needs_check RC 2 ARGS run --backend mpi --steps 1 --dump-layer @OUT@.layer
                MATCH "--dump-layer needs --check")
