#!/bin/sh
# make demo: a real check and explain with the installed reference plugins and shipped examples.
set -u
VFIOCOMPAT=${1:-vfiocompat}
show() {
    printf '\n$ vfiocompat %s\n' "$*"
    "$VFIOCOMPAT" "$@"
    printf '[exit status %s]\n' "$?"
}
GVT_V5_4_OLD="0x8086:1:8086-193b-i915-GVTg_V5_4-00000001"
GVT_V5_4_NEW="0x8086:1:8086-193b-i915-GVTg_V5_4-00000002"
GVT_V5_8_OLD="0x8086:1:8086-193b-i915-GVTg_V5_8-00000001"
QAT="$(sed -n 's/^source = "\(0x8086:[^"]*\)"/\1/p' plugins/vfiocompat-intel-qat/vfiocompat_intel_qat/*.toml | head -n 1)"
show plugins
show check "$GVT_V5_4_OLD" "$GVT_V5_4_OLD"
show check "$GVT_V5_4_OLD" "$GVT_V5_8_OLD"
show explain "$GVT_V5_4_NEW" "$GVT_V5_8_OLD"
show check "$GVT_V5_4_OLD" "$QAT"
show explain VC205
show validate --installed
exit 0
