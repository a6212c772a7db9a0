#!/usr/bin/env bash
# Builds what a call of the session's device tool carries (docs/gpu.md): the
# device image has jax, flax, optax, orbax, chex, torch, pandas, pyarrow, but
# not ml_collections, dm_pix, tensorboardX, nor the search's Ray + Nevergrad,
# and it has no network. Writes two folders that .git/info/exclude ignores:
#   .whl/   wheels for --python (default 3.12, the image's) + ray.tar.xz
#   data/fashion-mnist/   the IDX files (a search path of ktg_jax/data/idx.py)
# Ray's wheel (79 MB) is over a call's 64 MiB: ray.tar.xz is Ray without its
# Java jars, RLlib, Serve, LLM and dashboard web build, binaries stripped
# (26 MB); Tune, the core and the raylet are whole.
#
#   bash benchmarks/device_pack.sh            # train only (~0.2 MB + data)
#   bash benchmarks/device_pack.sh --search   # + Ray, Nevergrad (~28 MB)
#   bash benchmarks/device_pack.sh --search --python 3.11 --site /tmp/site
#       # unpacks into --site too: a local check of the trimmed Ray
# On the device: run `bash .whl/install.sh && export PYTHONPATH=/tmp/site:$PWD`.
set -euo pipefail
cd "$(dirname "$0")/.."
SEARCH=0 PYV=3.12 SITE=
while [ $# -gt 0 ]; do
  case $1 in
    --search) SEARCH=1 ;;
    --python) PYV=$2; shift ;;
    --site) SITE=$2; shift ;;
    *) echo "device_pack.sh: unknown argument $1; allowed: --search, --python X.Y, --site DIR" >&2; exit 2 ;;
  esac
  shift
done
for d in /.whl/ /data/; do
  grep -qxF "$d" .git/info/exclude 2>/dev/null || echo "$d" >> .git/info/exclude
done
mkdir -p .whl data/fashion-mnist
rm -f .whl/*.whl .whl/ray.tar.xz  # one Python's wheels at a time
TAG=cp${PYV/./}
get() {  # get DEST PKG==V ...: pinned as requirements.txt / the local environment has them
  local dest=$1; shift
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version "$PYV" \
    --implementation cp --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 -d "$dest" "$@"
}
get .whl ml_collections==1.1.0 dm-pix==0.4.5 tensorboardX==2.6.5
if [ $SEARCH = 1 ]; then
  get .whl nevergrad==1.0.12 bayesian-optimization==1.4.0 cma==4.5.0 directsearch==1.1 \
    jsonschema==4.26.0 jsonschema-specifications==2025.9.1 referencing==0.37.0 \
    rpds-py==2026.9.1
  tmp=$(mktemp -d)
  get "$tmp" ray==2.60.0
  (cd "$tmp" && unzip -q ray-2.60.0-"$TAG"-*.whl && rm ray-*.whl &&
   rm -rf ray/jars ray/rllib ray/llm ray/serve ray/dashboard/client/build &&
   strip ray/core/src/ray/gcs/gcs_server ray/core/src/ray/raylet/raylet &&
   strip --strip-unneeded ray/_raylet.so &&
   tar cf - ray ray-2.60.0.dist-info | xz -T2 -6 > ray.tar.xz)
  mv "$tmp/ray.tar.xz" .whl/ray.tar.xz
  rm -rf "$tmp"
fi
cat > .whl/install.sh <<'EOF'
#!/usr/bin/env bash
# The carried wheels (and Ray) into $1 (default /tmp/site, on the device).
set -e
site=$(realpath -m "${1:-/tmp/site}")
cd "$(dirname "$0")"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
  --target "$site" ./*.whl
if [ -f ray.tar.xz ]; then tar xJf ray.tar.xz -C "$site"; fi
EOF
if [ -n "$SITE" ]; then bash .whl/install.sh "$SITE"; fi
if [ -d /usr/share/datasets/fashion-mnist ]; then
  cp -u /usr/share/datasets/fashion-mnist/*.gz data/fashion-mnist/
fi
du -sh .whl data
