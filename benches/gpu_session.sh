#!/usr/bin/env bash
# One device call for a session that is lent a GPU: the GPU checks, then the super-resolution
# defaults trained on to where a GPU can take them, everything it makes in $OUT.
#
# Here, once (copies the training photos into .device-data/, which git ignores, so that the
# call can carry them: about 50 MB of the 64 MiB a call takes):
#
#     bash benches/gpu_session.sh stage [PHOTOS] [MORE_PHOTOS...]
#
# PHOTOS defaults to ../shared/data/photos; the shipped models also trained on Debian's
# lomiri-wallpapers-16.04 and -20.04 (the shared photos' duplicates are skipped):
#
#     (mkdir -p /tmp/deb && cd /tmp/deb && apt-get download lomiri-wallpapers-16.04 \
#      lomiri-wallpapers-20.04 && for f in *.deb; do dpkg -x "$f" x; done)
#     bash benches/gpu_session.sh stage ../shared/data/photos /tmp/deb/x/usr/share/backgrounds
#
# Then one device call, with time to spare under its 10-minute limit:
#
#     run(command="bash benches/gpu_session.sh run", carry=[".device-data"], timeout_s=590)
#
# On the device it runs benches/gpu_kernels.py and benches/gpu_upscale.py (each cut off after
# CHECK_SECONDS; their Markdown is in $OUT/gpu_*.md), then train_sr.py on the GPU: x4 for
# X4_MINUTES and x2 for X2_MINUTES, each warm-started from the shipped model (same width,
# as deep or deeper), the schedule fitted to the minutes (--fit-minutes), batch 64 of 64-pixel
# patches. $OUT gets each run's log and checkpoint (7 files: a call brings back 8 at most).
# Here, afterwards, copy each checkpoint into runs/ and export it
#     python3 -m burnish.export.train_sr --resume --export-only --work runs/gpu-x4
# then benches/quality.py --models chooses (never Set14) and the ship flow goes on.
set -uo pipefail

stage() {
    local photos=${1:-../shared/data/photos}
    shift || true
    rm -rf .device-data && mkdir -p .device-data/photos .device-data/more
    cp "$photos"/*.jpg .device-data/photos/
    shopt -s nullglob nocaseglob
    for folder in "$@"; do  # names the shared photos already have are the same picture
        for path in "$folder"/*.{jpg,jpeg,png,webp}; do  # what train_sr reads from a folder
            [ -e ".device-data/photos/$(basename "$path")" ] || cp "$path" .device-data/more/
        done
    done
    grep -qx '/.device-data/' .git/info/exclude 2>/dev/null || echo '/.device-data/' >> .git/info/exclude
    du -sh .device-data
}

train() {  # train SCALE NUM_FEAT NUM_CONV MINUTES
    local scale=$1 name=compact-x$1
    cp "burnish/models/default/$name.pth" "/tmp/$name-shipped.pth"
    PYTHONUNBUFFERED=1 PYTHONPATH=. python3 -m burnish.export.train_sr --device "${DEVICE:-cuda}" \
        --photos .device-data/photos --more-photos .device-data/more \
        --init "/tmp/$name-shipped.pth" --scale "$scale" --num-feat "$2" --num-conv "$3" \
        --relu-by 500 --informative-share "${INFORMATIVE_SHARE:-0.3}" \
        --batch 64 --patch 64 --lr "${LR:-5e-4}" --fit-minutes "$4" --threads 8 \
        --validate 2000 --every 2000 --work "$OUT/x$scale" --out "/tmp/x$scale-export" \
        2>&1 | tee "$OUT/x$scale.log"
}

run() {
    : "${OUT:?run it through the device tool, which sets OUT}"
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
    local check=${CHECK_SECONDS:-75}
    timeout "$check" python3 benches/gpu_kernels.py > "$OUT/gpu_kernels.md" 2>&1
    echo "gpu_kernels.py: exit $?"
    timeout "$check" python3 benches/gpu_upscale.py > "$OUT/gpu_upscale.md" 2>&1
    echo "gpu_upscale.py: exit $?"
    train 4 32 14 "${X4_MINUTES:-3}"
    train 2 16 13 "${X2_MINUTES:-1.5}"
}

case ${1:-} in
    stage) shift; stage "$@" ;;
    run) run ;;
    *) echo "usage: $0 stage [PHOTOS] [MORE_PHOTOS...] | run" >&2; exit 2 ;;
esac
