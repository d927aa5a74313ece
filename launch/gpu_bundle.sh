#!/usr/bin/env bash
# gpu_bundle.sh [BUILD_DIR] [OUT_DIR] [--no-archive]    (or: gpu_bundle.sh --source-hash)
# Packs what a GPU machine without Open MPI, CMake and network needs to run
# wideep and launch/gpu_run.sh: the build's wideep and kernels_tests, the Open
# MPI runtime (orterun = mpirun, orted, ompi_info, the MCA and PMIx plugin
# folders, help files and params), libcudart, and every shared library these
# load (ldd closure), except glibc and the large CUDA libraries (cuBLAS,
# cuBLASLt, NCCL, the driver: over 700 MB) that the GPU machine has, into
# OUT_DIR (default gpu_bundle/, git-ignored) plus OUT_DIR.tar.xz (unless
# --no-archive). `source OUT_DIR/env.sh` sets PATH, LD_LIBRARY_PATH (the
# bundle, then the CUDA toolkit, then the NVIDIA Python wheels of
# /opt/torch/.venv and other Python prefixes: nvidia-nccl-cu13, nvidia-cublas),
# OPAL_* and PMIX_*; its wideep_bundle_check says which library is missing and
# where it was looked for. Stops with a message when a library that must be
# bundled is missing here. It first builds wideep and kernels_tests in BUILD_DIR
# (incremental: a no-op when they are up to date). OUT_DIR/STAMP
# records the commit, whether the tree was dirty and the hash of the sources the
# binaries are built from (--source-hash prints the tree's: launch/gpu_run.sh
# compares the two where the tree it runs in has no .git). launch/gpu_run.sh
# uses it; docs/gpu.md says how.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

# The sources of the bundled binaries (wideep, kernels_tests): C++/CUDA files
# and the CMake files that build them, not tests/, fuzz/ or docs/. Listed by git
# where there is one (tracked and untracked-not-ignored: what the device tool
# copies), else by find with the ignored build folders left out, so that a copy
# of the tree without .git hashes the same. Prints a 16-hex-digit sha256 prefix.
source_hash() {
  local list
  if git -C "$root" rev-parse --git-dir >/dev/null 2>&1; then
    list=$(git -C "$root" ls-files -co --exclude-standard)
  else
    list=$(cd "$root" && find . \( -name '.git' -o -name 'build*' -o -name 'gpu_bundle' -o -name 'gpu_out' \
                                   -o -name 'out' -o -name '__pycache__' -o -name '.venv' \) -prune -o -type f -print | sed 's|^\./||')
  fi
  (cd "$root" && grep -E '\.(cc|h|cu|cuh|c|cpp|hpp)$|(^|/)CMakeLists\.txt$|^cmake/' <<<"$list" |
     grep -v -E '^(tests|fuzz|docs)/' | while IFS= read -r f; do if [[ -f $f ]]; then printf '%s\n' "$f"; fi; done |
     LC_ALL=C sort | xargs -d '\n' sha256sum | sha256sum | cut -c1-16)
}

archive=1 pos=()
for a in "$@"; do
  case $a in
    --source-hash) source_hash; exit 0 ;;
    --no-archive) archive=0 ;;
    -*) echo "gpu_bundle: unknown option $a" >&2; exit 2 ;;
    *) pos+=("$a") ;;
  esac
done
build=${pos[0]:-$root/build-gpu}
out=${pos[1]:-$root/gpu_bundle}
die() { echo "gpu_bundle: $*" >&2; exit 1; }
[[ -x $build/wideep ]] || die "no $build/wideep: build first (cmake -DWIDEEP_CUDA=ON)"
[[ $(ldd "$build/wideep") == *libcudart* ]] || die "$build/wideep does not link the CUDA runtime: configure with -DWIDEEP_CUDA=ON"
kernels_tests=$(find "$build/kernels" -maxdepth 1 -name kernels_tests -type f -perm -u+x 2>/dev/null | head -1)
[[ -n $kernels_tests ]] || die "no $build/kernels/kernels_tests: build with -DWIDEEP_BUILD_TESTS=ON"
# The binaries are brought up to date first, so that the stamp below describes them.
if [[ -f $build/CMakeCache.txt ]] && command -v cmake >/dev/null; then
  cmake --build "$build" --target wideep "$(basename "$kernels_tests")" >"$build/gpu_bundle_build.log" 2>&1 ||
    die "cmake --build $build --target wideep kernels_tests failed (log: $build/gpu_bundle_build.log)"
fi
command -v ompi_info >/dev/null || die "ompi_info not found: Open MPI must be installed here"
command -v orterun >/dev/null || die "orterun not found (Open MPI 4.x expected)"

ompi_path() { ompi_info --parsable --path "$1" | sed 's/^path:[^:]*://'; }
pkglibdir=$(ompi_path pkglibdir)
pkgdatadir=$(ompi_path pkgdatadir)
sysconfdir=$(ompi_path sysconfdir)
# PMIx (external to Open MPI on Debian): its plugins live beside libpmix.
pmix_lib=$(ldd "$(command -v orterun)" | awk '/libpmix/{print $3}' | head -1)
[[ -z $pmix_lib ]] && pmix_lib=$(ldd "$pkglibdir"/mca_pmix_ext3x.so 2>/dev/null | awk '/libpmix/{print $3}' | head -1)
pmix_prefix=
if [[ -n $pmix_lib ]]; then
  pmix_real=$(readlink -f "$pmix_lib")
  for cand in "$(dirname "$pmix_real")/.." /usr/lib/x86_64-linux-gnu/pmix2 /usr/lib/x86_64-linux-gnu/pmix; do
    [[ -d $cand/lib/pmix ]] && { pmix_prefix=$(cd "$cand" && pwd); break; }
  done
fi

rm -rf "$out" "$out.tar.xz"
mkdir -p "$out"/{bin,lib,ompi/bin,ompi/lib/openmpi,ompi/share/openmpi,ompi/etc,ompi/pmix/lib/pmix,ompi/pmix/share/pmix}
# Stripped: the symbols are not needed to run, and the bundle must travel in 64 MiB.
cp "$build/wideep" "$kernels_tests" "$out/bin/"
strip --strip-unneeded "$out/bin/wideep" "$out/bin/kernels_tests"
for b in orterun orted ompi_info; do cp "$(readlink -f "$(command -v $b)")" "$out/ompi/bin/$b"; done
ln -s orterun "$out/ompi/bin/mpirun"
ln -s orterun "$out/ompi/bin/mpiexec"
cp -a "$pkglibdir"/. "$out/ompi/lib/openmpi/"
cp -a "$pkgdatadir"/. "$out/ompi/share/openmpi/"
[[ -d $sysconfdir ]] && cp -a "$sysconfdir"/. "$out/ompi/etc/"
if [[ -n $pmix_prefix ]]; then
  cp -a "$pmix_prefix/lib/pmix"/. "$out/ompi/pmix/lib/pmix/"
  [[ -d $pmix_prefix/share/pmix ]] && cp -a "$pmix_prefix/share/pmix"/. "$out/ompi/pmix/share/pmix/"
fi

# hwloc's PCI plugin (the others pull X11, OpenCL and libxml2 and are not needed).
hwloc_lib=$(ldd "$build/wideep" | awk '/libhwloc/{print $3}' | head -1)
mkdir -p "$out/lib/hwloc"
for d in "$(dirname "$(readlink -f "$hwloc_lib")")/hwloc" /usr/lib/x86_64-linux-gnu/hwloc; do
  [[ -f $d/hwloc_pci.so ]] && { cp "$d/hwloc_pci.so" "$out/lib/hwloc/"; break; }
done

# Shared libraries: the ldd closure of everything above, minus glibc and the
# CUDA libraries; then libcudart (0.7 MB, the version the build was made with).
skip_re='/(libc|libm|libdl|libpthread|librt|libutil|libresolv|ld-linux[^/]*)\.so|/libcuda\.so|/libnvidia-|/libcudart\.so|/libcublas(Lt)?\.so|/libnccl\.so|/cuda[^/]*/'
mapfile -t objs < <(find "$out/bin" "$out/ompi/bin" "$out/ompi/lib" "$out/ompi/pmix/lib" "$out/lib/hwloc" -type f \( -perm -u+x -o -name '*.so*' \))
missing=$(for o in "${objs[@]}"; do ldd "$o" 2>/dev/null | grep 'not found' | sed "s|^|$o: |"; done | grep -v -E 'lib(cuda|nvidia-|cublas|nccl)' || true)
[[ -z $missing ]] || die "libraries missing on this machine (cannot bundle them):
$missing"
for o in "${objs[@]}"; do ldd "$o" 2>/dev/null | awk '/=> \//{print $3}'; done | sort -u | while read -r lib; do
  [[ $lib =~ $skip_re ]] && continue
  cp -L "$lib" "$out/lib/$(basename "$lib")"
done
cudart=$(ldd "$build/wideep" | awk '/libcudart/{print $3}')
[[ -f $cudart ]] || die "libcudart not found for $build/wideep"
cp -L "$cudart" "$out/lib/$(basename "$cudart")"
# Open MPI's plugins open libmca_common_* by their unversioned names too.
for l in "$out"/lib/libmca_common_*.so.*; do
  [[ -e $l ]] || continue
  base=${l%%.so.*}.so
  [[ -e $base ]] || ln -s "$(basename "$l")" "$base"
done

# What the binaries were built from: launch/gpu_run.sh prints it atop its summary
# and refuses a bundle whose commit is not HEAD's or whose sources differ from the tree's.
commit=$(git -C "$root" rev-parse HEAD 2>/dev/null || echo unknown)
dirty=no
[[ -n $(git -C "$root" status --porcelain 2>/dev/null) ]] && dirty=yes
{
  echo "commit $commit"
  echo "dirty $dirty"
  echo "sources $(source_hash)"
  echo "built $(date -u +%FT%TZ) on $(hostname) from $build"
} >"$out/STAMP"

cat > "$out/env.sh" <<'ENV'
# Source me: the bundled Open MPI and wideep (launch/gpu_bundle.sh).
WIDEEP_BUNDLE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export WIDEEP_BUNDLE
# Where cuBLAS, cuBLASLt and NCCL are looked for, in this order: the user's
# WIDEEP_EXTRA_LIBS, the CUDA toolkit, then NVIDIA's Python wheels (on the lent
# H200 image NCCL and cuBLAS come as nvidia-nccl-cu13 and nvidia-cublas under
# /opt/torch/.venv: site-packages/nvidia/<name>/lib, or nvidia/cu13/lib).
WIDEEP_LIB_SEARCH=
for d in ${WIDEEP_EXTRA_LIBS:+${WIDEEP_EXTRA_LIBS//:/ }} /usr/local/cuda/lib64 /usr/local/cuda/lib /usr/local/cuda/targets/x86_64-linux/lib \
         /opt/torch/.venv/lib/python3*/site-packages/nvidia/*/lib /usr/local/lib/python3*/dist-packages/nvidia/*/lib \
         /usr/lib/python3/dist-packages/nvidia/*/lib; do
  [[ -d $d ]] && compgen -G "$d/lib*.so*" >/dev/null && WIDEEP_LIB_SEARCH=$WIDEEP_LIB_SEARCH:$d
done
export WIDEEP_LIB_SEARCH=${WIDEEP_LIB_SEARCH#:}
export PATH=$WIDEEP_BUNDLE/bin:$WIDEEP_BUNDLE/ompi/bin:${PATH:-/usr/bin:/bin}
export LD_LIBRARY_PATH=$WIDEEP_BUNDLE/lib${WIDEEP_LIB_SEARCH:+:$WIDEEP_LIB_SEARCH}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
# Prints what the bundled programs cannot load and where it was looked for; status 1 then.
wideep_bundle_check() {
  local f missing=0
  for f in "$WIDEEP_BUNDLE"/bin/* "$WIDEEP_BUNDLE"/ompi/bin/*; do
    [[ -f $f && -x $f ]] || continue
    if [[ $(ldd "$f" 2>&1) == *"not found"* ]]; then
      ldd "$f" | grep 'not found' | sed "s|^[[:space:]]*|$(basename "$f"): |"
      missing=1
    fi
  done
  if [[ $missing -ne 0 ]]; then
    echo "wideep bundle: libraries missing. Looked in $WIDEEP_BUNDLE/lib and: ${WIDEEP_LIB_SEARCH:-nothing found}"
    echo "  (the CUDA toolkit's lib64, NVIDIA's wheels nvidia-nccl-cu13 / nvidia-cublas under a Python prefix;"
    echo "   WIDEEP_EXTRA_LIBS=DIR:DIR adds folders)"
    return 1
  fi
  echo "wideep bundle: every library found (search: $WIDEEP_LIB_SEARCH)"
}
# Open MPI's install directories, relocated (opal installdirs "env" component).
export OPAL_PREFIX=$WIDEEP_BUNDLE/ompi
export OPAL_EXEC_PREFIX=$OPAL_PREFIX OPAL_BINDIR=$OPAL_PREFIX/bin OPAL_LIBDIR=$WIDEEP_BUNDLE/lib
export OPAL_PKGLIBDIR=$OPAL_PREFIX/lib/openmpi OPAL_DATAROOTDIR=$OPAL_PREFIX/share OPAL_DATADIR=$OPAL_PREFIX/share
export OPAL_PKGDATADIR=$OPAL_PREFIX/share/openmpi OPAL_SYSCONFDIR=$OPAL_PREFIX/etc
export OMPI_MCA_mca_base_component_path=$OPAL_PKGLIBDIR
# PMIx's own install directories (libpmix reads PMIX_PREFIX, PMIX_PKGLIBDIR, ...).
export PMIX_PREFIX=$OPAL_PREFIX/pmix PMIX_EXEC_PREFIX=$OPAL_PREFIX/pmix PMIX_LIBDIR=$WIDEEP_BUNDLE/lib
export PMIX_PKGLIBDIR=$PMIX_PREFIX/lib/pmix PMIX_DATADIR=$PMIX_PREFIX/share PMIX_PKGDATADIR=$PMIX_PREFIX/share/pmix
export PMIX_MCA_mca_base_component_path=$PMIX_PKGLIBDIR
# hwloc loads only the bundled PCI plugin (GPUs and NICs in the topology).
export HWLOC_PLUGINS_PATH=$WIDEEP_BUNDLE/lib/hwloc
# Containers run as root; one node, shared memory and loopback only.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1
# vader's single copy (CMA) is left on: turning it off made MPI 4.5x slower
# (issue 12). With --backend nccl MPI carries only the start-up and messages
# under the eager limit, which never use it; where a container forbids
# process_vm_readv, export OMPI_MCA_btl_vader_single_copy_mechanism=none.
export OMPI_MCA_btl=self,vader
export OMPI_MCA_pml=ob1 OMPI_MCA_osc=^ucx
# No launcher binding: Open MPI 4.1 pins 1- and 2-rank jobs to one core each
# ([B/.] [./B]), which wideep keeps, and NCCL's proxy and socket threads would
# then share the rank's polling core; unbound, wideep binds each rank to the
# cores near its GPU (runtime/machine/hwloc_topology.cc). No InfiniBand on the lent machine.
export OMPI_MCA_hwloc_base_binding_policy=none
export NCCL_IB_DISABLE=1
ENV

echo "gpu_bundle: $out ($(du -sh "$out" | cut -f1)), $(tr '\n' ' ' <"$out/STAMP")"
if [[ $archive -eq 1 ]]; then
  # xz -9: the device tool carries at most 64 MiB with the working tree.
  tar -C "$(dirname "$out")" -cf - "$(basename "$out")" | xz -9 -T2 >"$out.tar.xz"
  echo "gpu_bundle: $out.tar.xz ($(du -sh "$out.tar.xz" | cut -f1)): carry this one"
fi
ext=$(LD_LIBRARY_PATH=$out/lib ldd "$out/bin/wideep" "$out/bin/kernels_tests" | awk '/not found/{print $1}' | sort -u | tr '\n' ' ')
[[ -n $ext ]] && echo "gpu_bundle: not bundled, found on the GPU machine by env.sh: $ext"
exit 0
