# Fault tests (issue 8): a straggler still passes --check; a rank that dies or
# hangs makes every other rank end within --timeout-s with a message naming the
# step, the phase and the missing peer, and the whole job ends (nothing hangs).
# Drop/dup/misroute/corrupt are in run.cmake, corrupt-weights in balancers.cmake.
# On the MPI transport, whose waits these tests cover (a wait of the default,
# shm on one node, that times out: tests/shm.cmake).
set(FSMALL --backend mpi --transport mpi --experts 32 --tokens 32 --hidden 32 --ffn 64 --steps 6 --warmup 1 --quiet)
# The job must end within the timeout plus mpirun's start and stop on a loaded machine.
set(FWITHIN 30)
# Without this, mpirun kills the other ranks as soon as one exits non-zero, so
# they never reach their own timeout (fault_die_default_launch covers that path).
set(NO_LAUNCHER_KILL "OMPI_MCA_orte_abort_on_non_zero_status=0")

# A straggler (rank 1 sleeps 2 ms per step) slows the step but breaks nothing.
wideep_cli_test(NAME fault_slow_check_passes NP 4
  ARGS run ${FSMALL} --timeout-s 30 --inject slow:1:2000 --check --baseline --json @OUT@
  MATCH "check: passed" JSON_CHECK contract)

# What each surviving rank says: its own timeout, or (when another rank's
# MPI_Abort killed it first) the SIGTERM report of the wait it was in.
set(survivor_re "(timeout after 4 s in|terminated by signal SIGTERM (while waiting|outside a wait. last wait):) [a-z -]+ in step 2 layer 0 phase [a-z]+. not completed: .*rank 1")

wideep_cli_test(NAME fault_die_survivors_time_out NP 4 RC 3 WITHIN ${FWITHIN} ENV ${NO_LAUNCHER_KILL}
  ARGS run ${FSMALL} --timeout-s 4 --inject die:1:2
  MATCH "rank 1: injected fault: exiting abruptly at step 2"
        "rank [023]: timeout after 4 s in counts exchange in step 2 layer 0 phase dispatch. not completed: receive from rank 1"
        "rank 0: ${survivor_re}" "rank 2: ${survivor_re}" "rank 3: ${survivor_re}")

# In a collective (the LPLB counts allgather) MPI cannot say who is missing: the roll call does.
wideep_cli_test(NAME fault_die_in_collective NP 4 RC 3 WITHIN ${FWITHIN} ENV ${NO_LAUNCHER_KILL}
  ARGS run ${FSMALL} --timeout-s 4 --balancer lplb --redundant 8 --inject die:1:2
  MATCH "rank [023]: timeout after 4 s in allgather in step 2 layer 0 phase balance. not completed: the collective \\(no answer to a roll call from rank 1\\)")

# 8 ranks with EPLB moving weights: the dead rank is named by all seven others.
wideep_cli_test(NAME fault_die_np8_eplb NP 8 RC 3 WITHIN ${FWITHIN} ENV ${NO_LAUNCHER_KILL}
  ARGS run ${FSMALL} --timeout-s 4 --balancer eplb --redundant 8 --eplb-interval 2 --eplb-window 2 --inject die:5:3
  MATCH "rank [0-46-7]: timeout after 4 s in .* in step 3 layer 0 phase [a-z]+. not completed: .*rank 5")

# The default launch: mpirun kills the survivors at once (long before --timeout-s);
# each says where it was from its SIGTERM handler, but mpirun may drop the
# lines of ranks it is killing, so one survivor's report is what can be asserted.
wideep_cli_test(NAME fault_die_default_launch NP 4 RC 4 WITHIN ${FWITHIN}
  ARGS run ${FSMALL} --timeout-s 30 --inject die:1:2
  MATCH "rank [023]: terminated by signal SIGTERM while waiting: [a-z -]+ in step 2 layer 0 phase [a-z]+. not completed: receive from rank 1")

# A hung rank: the others time out by themselves; the first one's MPI_Abort
# ends the job, the hung rank included (WITHIN: mpirun cannot end before it).
wideep_cli_test(NAME fault_hang_survivors_time_out NP 4 RC 3 WITHIN ${FWITHIN}
  ARGS run ${FSMALL} --timeout-s 4 --inject hang:1:2
  MATCH "rank 1: injected fault: hanging at step 2"
        "rank [023]: timeout after 4 s in counts exchange in step 2 layer 0 phase dispatch. not completed: receive from rank 1"
        "rank 0: ${survivor_re}" "rank 2: ${survivor_re}" "rank 3: ${survivor_re}")

# Corruption is caught with balancers too: LPLB splits and EPLB moves do not hide it.
wideep_cli_test(NAME fault_corrupt_with_eplb_lplb NP 8 RC 1
  ARGS run ${FSMALL} --timeout-s 30 --balancer eplb,lplb --redundant 16 --eplb-interval 2 --eplb-window 2
       --check --inject corrupt:6:4
  MATCH "rank 6: check failed at step 4 layer 0 token [0-9]+" "check: FAILED")
