#!/usr/bin/env bash
# gpu_bundle.sh [BUILD_DIR] [OUT_DIR]
# Packs what a GPU machine without Open MPI (and without network) needs to run
# wideep: the build's wideep and kernels_tests, the Open MPI runtime (orterun =
# mpirun, orted, ompi_info, the MCA and PMIx plugin folders, help files and
# params) and every shared library these load (ldd closure), except glibc and
# the CUDA toolkit/driver libraries (libcudart, libcublas(Lt), libnccl, libcuda:
# over 700 MB, and the GPU machine has them), into OUT_DIR (default
# gpu_bundle/, git-ignored) plus OUT_DIR.tar.xz. `source OUT_DIR/env.sh` sets
# PATH, LD_LIBRARY_PATH, OPAL_* and PMIX_* so that the bundled mpirun works
# where nothing of Open MPI is installed. launch/gpu_run.sh uses it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build-gpu}
out=${2:-$root/gpu_bundle}
die() { echo "gpu_bundle: $*" >&2; exit 1; }
[[ -x $build/wideep ]] || die "no $build/wideep: build first (cmake -DWIDEEP_CUDA=ON)"
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
cp "$build/wideep" "$out/bin/"
[[ -x $build/kernels/kernels_tests ]] && cp "$build/kernels/kernels_tests" "$out/bin/"
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

# Shared libraries: the ldd closure of everything above, minus glibc and CUDA.
skip_re='/(libc|libm|libdl|libpthread|librt|libutil|libresolv|ld-linux[^/]*)\.so|/libcuda\.so|/libnvidia-|/libcudart\.so|/libcublas(Lt)?\.so|/libnccl\.so|/cuda[^/]*/'
mapfile -t objs < <(find "$out/bin" "$out/ompi/bin" "$out/ompi/lib" "$out/ompi/pmix/lib" "$out/lib/hwloc" -type f \( -perm -u+x -o -name '*.so*' \))
for o in "${objs[@]}"; do ldd "$o" 2>/dev/null | awk '/=> \//{print $3}'; done | sort -u | while read -r lib; do
  [[ $lib =~ $skip_re ]] && continue
  cp -L "$lib" "$out/lib/$(basename "$lib")"
done
# Open MPI's plugins open libmca_common_* by their unversioned names too.
for l in "$out"/lib/libmca_common_*.so.*; do
  [[ -e $l ]] || continue
  base=${l%%.so.*}.so
  [[ -e $base ]] || ln -s "$(basename "$l")" "$base"
done

cat > "$out/env.sh" <<'ENV'
# Source me: the bundled Open MPI and wideep (launch/gpu_bundle.sh).
WIDEEP_BUNDLE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export WIDEEP_BUNDLE
cuda_libs=
for d in /usr/local/cuda/lib64 /usr/local/cuda/lib /usr/local/cuda/targets/x86_64-linux/lib; do
  [[ -d $d ]] && cuda_libs=$cuda_libs:$d
done
export PATH=$WIDEEP_BUNDLE/bin:$WIDEEP_BUNDLE/ompi/bin:${PATH:-/usr/bin:/bin}
export LD_LIBRARY_PATH=$WIDEEP_BUNDLE/lib$cuda_libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
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
export OMPI_MCA_btl=self,vader OMPI_MCA_btl_vader_single_copy_mechanism=none
export OMPI_MCA_pml=ob1 OMPI_MCA_osc=^ucx
ENV

tar -C "$(dirname "$out")" -cJf "$out.tar.xz" "$(basename "$out")"
echo "gpu_bundle: $out ($(du -sh "$out" | cut -f1)), $out.tar.xz ($(du -sh "$out.tar.xz" | cut -f1))"
missing=$(LD_LIBRARY_PATH=$out/lib ldd "$out/bin/wideep" | grep 'not found' || true)
[[ -n $missing ]] && echo "gpu_bundle: not bundled (expected on the GPU machine): $missing"
exit 0
