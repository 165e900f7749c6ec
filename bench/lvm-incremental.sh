#!/usr/bin/env bash
# bench/lvm-incremental.sh — what an LVM incremental costs on the test host: classic snapshots, thin
# snapshots and qcow2 inside an LV, measured against a known set of changes (docs/lvm-driver.md).
#
# Runs from this machine. Talks to the test host through `scripts/testhost ssh` (lvs, dmsetup, dd,
# qemu-img, qemu-io inside) and libvirt over qemu+tcp (what volback itself would use). Creates only
# LVs named vbh-lvm-* in the VG and removes them all on exit, also after a failure.
#
#   bash bench/lvm-incremental.sh               # every section, about 8-10 minutes under TCG
#   bash bench/lvm-incremental.sh job classic   # only these (base job classic thin qcow2 reader)
#   VBH_SEED=7 bash bench/lvm-incremental.sh    # another change set
#
# `base` (the full, write throughput, documents) also runs with classic, thin or qcow2.
#
# Output: one line per figure, "name value", on stdout; commands and progress on stderr.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TESTHOST="$ROOT/scripts/testhost"
URI=${VBH_URI:-$(bash "$TESTHOST" uri)}
VG=${VOLBACK_TESTHOST_VG:-testvg}
P=vbh-lvm-
SEED=${VBH_SEED:-16}
FULL_MIB=256
GRAN=65536
WORK=$(mktemp -d /tmp/vbh-lvm.XXXXXX)
SECTIONS=" ${*:-base job classic thin qcow2 reader} "
want() { [[ $SECTIONS == *" $1 "* ]]; }
for s in classic thin qcow2; do want "$s" && SECTIONS+=" base "; done
DOM=${P}dom
SRC=/var/lib/libvirt/testdir/${P}src.qcow2

th() { bash "$TESTHOST" ssh "$@" 2> >(grep -v -e thin_check -e 'Check is skipped' >&2); }
v() { virsh -q -c "$URI" "$@"; }
log() { printf '%s\n' "-- $*" >&2; }
out() { printf '%s %s\n' "$1" "$2"; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }

cleanup() {
  local rc=$?
  log "cleanup"
  # Snapshots before origins, thin LVs before their pool: lvremove of a listed name that went with
  # its origin only warns.
  th "for pass in 1 2 3; do
        for lv in \$(lvs --noheadings -o lv_name -S 'lv_name=~^${P}' --sort -origin $VG 2>/dev/null); do
          lvremove -q -f $VG/\$lv >/dev/null 2>&1 || true
        done
      done
      lvs --noheadings -o lv_name -S 'lv_name=~^${P}' $VG 2>/dev/null" || true
  v pool-refresh "$VG" >/dev/null 2>&1 || true
  v destroy "${P}helper" >/dev/null 2>&1 || true
  v destroy "$DOM" >/dev/null 2>&1 || true
  v destroy "${P}rhelper" >/dev/null 2>&1 || true
  th "rm -f /var/lib/libvirt/testdir/${P}scratch.qcow2 /var/lib/libvirt/testdir/${P}read.raw /var/lib/libvirt/qemu/${P}nbd.sock" >/dev/null 2>&1 || true
  th "rm -f $SRC" >/dev/null 2>&1 || true
  v pool-refresh testdir >/dev/null 2>&1 || true
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT INT TERM

dmname() { printf '%s-%s' "${VG//-/--}" "${1//-/--}"; }

# --- the change sets -------------------------------------------------------------------------
# A: 64 extents of 4-512 KiB, 4 KiB aligned, anywhere in the disk (they may overlap).
# B: 64 distinct whole 64 KiB granules.
awk -v seed="$SEED" -v size=$((FULL_MIB * 1048576)) 'BEGIN {
  srand(seed);
  for (i = 0; i < 64; i++) {
    len = 4096 * (1 + int(rand() * 128));
    off = 4096 * int(rand() * ((size - len) / 4096));
    print off, len
  }
}' >"$WORK/setA"
awk -v seed="$((SEED + 1))" -v size=$((FULL_MIB * 1048576)) -v g=$GRAN 'BEGIN {
  srand(seed); n = 0;
  while (n < 64) { k = int(rand() * (size / g)); if (!(k in seen)) { seen[k] = 1; print k * g, g; n++ } }
}' >"$WORK/setB"
# A as QEMU's backup job writes it: every 64 KiB granule the extents touch (dirty bitmap granularity).
awk -v g=$GRAN '{ for (k = int($1 / g); k * g < $1 + $2; k++) seen[k] = 1 }
  END { for (k in seen) print k * g, g }' "$WORK/setA" | sort -n >"$WORK/setAg"
union() { sort -n "$1" | awk '{ s = $1; e = $1 + $2; if (s > ce) { t += ce - cs; cs = s; ce = e } else if (e > ce) ce = e }
  END { t += ce - cs; print t }'; }
out setA.extents "$(wc -l <"$WORK/setA")"
out setA.bytes_written "$(awk '{ t += $2 } END { print t }' "$WORK/setA")"
out setA.bytes_changed "$(union "$WORK/setA")"
out setA.granules "$(wc -l <"$WORK/setAg")"
out setAg.bytes "$(union "$WORK/setAg")"
out setB.bytes "$(union "$WORK/setB")"

# dd commands writing random data at the set's extents into a device inside the test host.
ddscript() { awk -v dev="$2" '{ printf "dd if=/dev/urandom of=%s bs=4096 seek=%d count=%d conv=notrunc oflag=direct status=none\n", dev, $1 / 4096, $2 / 4096 }' "$1"; }
# qemu-io commands doing the same through a qcow2 image (pattern per extent).
qioargs() { awk '{ printf " -c %cwrite -P %d %d %d%c", 39, (NR % 250) + 1, $1, $2, 39 }' "$1"; }
# Bytes a classic snapshot's exception store holds (dm-snapshot status: allocated/total metadata).
snapused() { th "dmsetup status $(dmname "$1")" | awk '{ split($4, a, "/"); print a[1] * 512, $5 * 512 }'; }
# Bytes of data a thin pool has allocated.
snapxml() { printf "<volume><name>%s</name><capacity unit='MiB'>%s</capacity><target/><backingStore><path>%s</path></backingStore></volume>" "$1" "$2" "$3" >"$WORK/$1.xml"; }
QLV_MIB=64
qend() { th "qemu-img check -f qcow2 /dev/$VG/$1 2>&1" | sed -n 's/^Image end offset: //p'; }
# The job's helpers: writes through the paused domain's device, a push backup, checkpoint sizes.
guestwrite() {
  local n=0 off len
  while read -r off len; do
    n=$((n + 1))
    v qemu-monitor-command --hmp "$DOM" \
      "qemu-io -d /machine/peripheral/virtio-disk0/virtio-backend \"write -P $(((n % 250) + 1)) $off $len\"" | grep . >&2 || true
  done <"$1"
}
backup() { # target-LV driver new-checkpoint [incremental-from]
  {
    printf "<domainbackup mode='push'>"
    [ -n "${4:-}" ] && printf "<incremental>%s</incremental>" "$4"
    printf "<disks><disk name='vda' backup='yes' type='block'><driver type='%s'/><target dev='/dev/%s/%s'/></disk></disks></domainbackup>" "$2" "$VG" "$1"
  } >"$WORK/bk.xml"
  printf "<domaincheckpoint><name>%s</name><disks><disk name='vda' checkpoint='bitmap'/></disks></domaincheckpoint>" "$3" >"$WORK/ck.xml"
  v backup-begin "$DOM" "$WORK/bk.xml" "$WORK/ck.xml" --reuse-external >/dev/null
  until v domjobinfo "$DOM" | grep -q 'Job type: *None'; do sleep 0.2; done
}
cksize() { v checkpoint-dumpxml "$DOM" "$1" --size | sed -n "s/.*<disk name='vda'.* size='\([0-9]*\)'.*/\1/p"; }
# The store a classic snapshot needs for D dirty bytes: 4 KiB chunks, one 16-byte exception each
# (256 to a metadata chunk), one header chunk; then rounded up to the VG's 4 MiB extents (MiB).
cowfor() {
  awk -v d="$1" 'BEGIN { c = int((d + 4095) / 4096); m = int((c + 255) / 256) + 1; b = (c + m) * 4096
    print b, int((b + 4194303) / 4194304) * 4 }'
}
same() { th "qemu-img compare -U -f qcow2 -F $2 $SRC /dev/$VG/$1 >/dev/null 2>&1" && echo yes || echo NO; }
poolused() {
  local chunk; chunk=$(th "lvs --noheadings --units b --nosuffix -o chunk_size $VG/$1" | tr -d ' ')
  th "dmsetup status $(dmname "$1")-tpool" | awk -v c="$chunk" '{ split($6, a, "/"); print a[1] * c }'
}

job_section() {
# --- 0. the real job: libvirt's push backup, incremental from a checkpoint, into block targets ---
# A paused type='qemu' domain on a qcow2 (compat 1.1) in the dir pool; guest writes go through
# QEMU's block layer (HMP qemu-io on the device), so the checkpoint's dirty bitmap records them.
th "qemu-img create -q -f qcow2 -o compat=1.1 $SRC ${FULL_MIB}M && qemu-io -f qcow2 -c 'write -P 17 0 ${FULL_MIB}M' $SRC >/dev/null"
printf "%s" "<domain type='qemu'><name>$DOM</name><memory unit='MiB'>32</memory><vcpu>1</vcpu>
<os><type arch='x86_64' machine='pc'>hvm</type></os><devices><disk type='file' device='disk'>
<driver name='qemu' type='qcow2'/><source file='$SRC'/><target dev='vda' bus='virtio'/></disk></devices></domain>" >"$WORK/dom.xml"
v create "$WORK/dom.xml" --paused >/dev/null
v vol-create-as "$VG" "${P}jfull" "${FULL_MIB}M" >/dev/null
t=$(now); backup "${P}jfull" raw "${P}ck1"; out job.full.backup_seconds "$(since "$t")"
out job.full.matches_source "$(same "${P}jfull" raw)"
guestwrite "$WORK/setA"
out job.ck1.size_after_setA "$(cksize "${P}ck1")"
read -r need mib < <(cowfor "$(cksize "${P}ck1")")
out job.classic1.cow_bytes_predicted "$need"
snapxml "${P}jinc1" "$mib" "/dev/$VG/${P}jfull"; v vol-create "$VG" "$WORK/${P}jinc1.xml" >/dev/null
t=$(now); backup "${P}jinc1" raw "${P}ck2" "${P}ck1"; out job.classic1.backup_seconds "$(since "$t")"
read -r used meta < <(snapused "${P}jinc1")
out job.classic1.cow_bytes_allocated "$used"
out job.classic1.cow_metadata_bytes "$meta"
out job.classic1.lv_size_bytes $((mib * 1048576))
out job.classic1.matches_source "$(same "${P}jinc1" raw)"
out job.full.still_at_its_own_time "$([ "$(same "${P}jfull" raw)" = NO ] && echo yes || echo NO)"
guestwrite "$WORK/setB"
out job.ck2.size_after_setB "$(cksize "${P}ck2")"
out job.ck1.size_after_setB "$(cksize "${P}ck1")"
# qcow2 in an LV on the classic incremental (jfull <- jinc1 <- jq2): libvirt writes the qcow2 layer.
qemu-img create -q -f qcow2 -o cluster_size=$GRAN -u -b "/dev/$VG/${P}jinc1" -F raw "$WORK/jq2.hdr" "${FULL_MIB}M"
v vol-create-as "$VG" "${P}jq2" "${QLV_MIB}M" >/dev/null
v vol-upload --pool "$VG" "${P}jq2" "$WORK/jq2.hdr"
t=$(now); backup "${P}jq2" qcow2 "${P}ck3" "${P}ck2"; out job.qcow2_2.backup_seconds "$(since "$t")"
out job.qcow2_2.image_end_offset "$(qend "${P}jq2")"
out job.qcow2_2.matches_source "$(same "${P}jq2" qcow2)"
# A second classic incremental cannot stand on the first: a differential from ck1 on the full.
read -r need mib < <(cowfor "$(cksize "${P}ck1")")
out job.classic2.cow_bytes_predicted "$need"
snapxml "${P}jdiff2" "$mib" "/dev/$VG/${P}jfull"; v vol-create "$VG" "$WORK/${P}jdiff2.xml" >/dev/null
backup "${P}jdiff2" raw "${P}ck4" "${P}ck1"
read -r used meta < <(snapused "${P}jdiff2")
out job.classic2.cow_bytes_allocated "$used"
out job.classic2.matches_source "$(same "${P}jdiff2" raw)"
v destroy "$DOM" >/dev/null
for lv in jq2 jdiff2 jinc1 jfull; do v vol-delete --pool "$VG" "${P}$lv" >/dev/null; done
th "rm -f $SRC"
v pool-refresh testdir >/dev/null
}

reader_section() {
# --- the guest view of a qcow2-in-LV chain through libvirt: pull-mode backup of a helper domain ---
# A paused transient domain with the top layer as a read-only disk; libvirt's pull job exports the
# chain over NBD (a unix socket inside the test host here; tcp in production).
local sock=/var/lib/libvirt/qemu/${P}nbd.sock scratch=/var/lib/libvirt/testdir/${P}scratch.qcow2
v vol-create-as "$VG" "${P}rfull" "${FULL_MIB}M" >/dev/null
th "qemu-io -f raw -c 'write -P 33 0 ${FULL_MIB}M' /dev/$VG/${P}rfull >/dev/null"
qemu-img create -q -f qcow2 -o cluster_size=$GRAN -u -b "/dev/$VG/${P}rfull" -F raw "$WORK/r1.hdr" "${FULL_MIB}M"
v vol-create-as "$VG" "${P}r1" 16M >/dev/null
v vol-upload --pool "$VG" "${P}r1" "$WORK/r1.hdr"
th "qemu-io -f qcow2$(qioargs "$WORK/setB") /dev/$VG/${P}r1 >/dev/null"
printf "%s" "<domain type='qemu'><name>${P}rhelper</name><memory unit='MiB'>32</memory><vcpu>1</vcpu>
<os><type arch='x86_64' machine='pc'>hvm</type></os><devices><disk type='block' device='disk'>
<driver name='qemu' type='qcow2'/><source dev='/dev/$VG/${P}r1'/><target dev='vda' bus='virtio'/><readonly/></disk></devices></domain>" >"$WORK/rhelper.xml"
printf "%s" "<domainbackup mode='pull'><server transport='unix' socket='$sock'/><disks><disk name='vda' backup='yes' type='file'><scratch file='$scratch'/></disk></disks></domainbackup>" >"$WORK/pull.xml"
t=$(now); v create "$WORK/rhelper.xml" --paused >/dev/null; v backup-begin "${P}rhelper" "$WORK/pull.xml" >/dev/null
out reader.helper_and_export_seconds "$(since "$t")"
local url="nbd+unix:///vda?socket=$sock"
out reader.export_equals_chain "$(th "qemu-img compare -U -f raw -F qcow2 '$url' /dev/$VG/${P}r1 >/dev/null 2>&1" && echo yes || echo NO)"
t=$(now); th "qemu-img convert -f raw -O raw '$url' /var/lib/libvirt/testdir/${P}read.raw && rm -f /var/lib/libvirt/testdir/${P}read.raw"
out reader.read_256MiB_seconds "$(since "$t")"
v domjobabort "${P}rhelper" >/dev/null 2>&1 || true
v destroy "${P}rhelper" >/dev/null
th "rm -f $scratch $sock"
v vol-delete --pool "$VG" "${P}r1" >/dev/null
v vol-delete --pool "$VG" "${P}rfull" >/dev/null
}

base_section() {
# --- a full, and write throughput -------------------------------------------------------------
log "full: vol-create-as + vol-upload of ${FULL_MIB} MiB of random data"
head -c $((FULL_MIB * 1048576)) /dev/urandom >"$WORK/full.img"
v vol-create-as "$VG" "${P}full" "${FULL_MIB}M" >/dev/null
t=$(now); v vol-upload --pool "$VG" "${P}full" "$WORK/full.img"; out upload.seconds_256MiB "$(since "$t")"
v vol-create-as "$VG" "${P}tput" "${FULL_MIB}M" >/dev/null
t=$(now); th "dd if=/dev/zero of=/dev/$VG/${P}tput bs=1M count=$FULL_MIB oflag=direct status=none"
out dd_zero_inside.seconds_256MiB "$(since "$t")"
t=$(now); th "dd if=/dev/$VG/${P}full of=/dev/$VG/${P}tput bs=1M oflag=direct iflag=direct status=none"
out dd_lv_to_lv_inside.seconds_256MiB "$(since "$t")"
t=$(now); v vol-download --pool "$VG" "${P}full" "$WORK/full.down"; out download.seconds_256MiB "$(since "$t")"
cmp -s "$WORK/full.img" "$WORK/full.down" && out full.download_matches yes || out full.download_matches NO
v vol-delete --pool "$VG" "${P}tput" >/dev/null

# --- documents: a small volume is rounded up to the extent -------------------------------------
v vol-create-as "$VG" "${P}doc" 5000 >/dev/null
out doc.requested_bytes 5000
out doc.capacity_bytes "$(v vol-dumpxml --pool "$VG" "${P}doc" | sed -n 's/.*<capacity unit=.bytes.>\([0-9]*\)<.*/\1/p')"
v vol-delete --pool "$VG" "${P}doc" >/dev/null
}

classic_section() {

# --- 1. classic snapshots, made by libvirt -----------------------------------------------------
COW_MIB=64
for s in A Ag B; do
  name="${P}c$s"
  snapxml "$name" $COW_MIB "/dev/$VG/${P}full"
  t=$(now); v vol-create "$VG" "$WORK/$name.xml" >/dev/null; out classic.$s.create_seconds "$(since "$t")"
  read -r before meta0 < <(snapused "$name")
  ddscript "$WORK/set$s" "/dev/$VG/$name" >"$WORK/$name.sh"
  t=$(now); th bash -s <"$WORK/$name.sh"; out classic.$s.write_seconds "$(since "$t")"
  read -r used meta < <(snapused "$name")
  out classic.$s.cow_bytes_allocated "$used"
  out classic.$s.cow_metadata_bytes "$meta"
  out classic.$s.cow_bytes_before_writes "$before"
  out classic.$s.lv_size_bytes "$(th "lvs --noheadings --units b --nosuffix -o lv_size $VG/$name" | tr -d ' ')"
done
th "lvs -o lv_name,lv_attr,origin,lv_size,snap_percent,chunk_size $VG" >&2
out classic.chunk_bytes "$(th "lvs --noheadings --units b --nosuffix -o chunk_size $VG/${P}cB" | tr -d ' ')"
# Reading it as a whole disk: the snapshot device is the disk at its point in time.
t=$(now); v vol-download --pool "$VG" "${P}cB" "$WORK/cB.down"; out classic.B.download_seconds "$(since "$t")"
python3 - "$WORK/full.img" "$WORK/cB.down" "$WORK/setB" <<'EOF' | while read -r k val; do out "classic.B.$k" "$val"; done
import sys
a = open(sys.argv[1], 'rb').read(); b = open(sys.argv[2], 'rb').read()
ext = [tuple(map(int, l.split())) for l in open(sys.argv[3])]
inside = sum(1 for o, n in ext if a[o:o+n] != b[o:o+n])
mask = bytearray(b)
for o, n in ext: mask[o:o+n] = a[o:o+n]
print('extents_differing_from_full', inside)
print('outside_extents_equal_full', 'yes' if bytes(mask) == a else 'NO')
EOF
# A chain: a snapshot whose origin is a snapshot.
snapxml "${P}cB2" 16 "/dev/$VG/${P}cB"
if err=$(v vol-create "$VG" "$WORK/${P}cB2.xml" 2>&1); then out classic.snapshot_of_snapshot created; else
  out classic.snapshot_of_snapshot "refused: $(printf '%s' "$err" | tr '\n' ' ' | sed 's/  */ /g' | cut -c1-200)"; fi
# Overflow: a snapshot whose store is smaller than what is written into it.
snapxml "${P}cX" 4 "/dev/$VG/${P}full"
v vol-create "$VG" "$WORK/${P}cX.xml" >/dev/null
ddscript "$WORK/setB" "/dev/$VG/${P}cX" >"$WORK/cX.sh"
th bash -s <"$WORK/cX.sh" 2>/dev/null || true
out classic.overflow_4MiB_store_attr "$(th "lvs --noheadings -o lv_attr $VG/${P}cX" | tr -d ' ')"
out classic.overflow_read "$(th "dd if=/dev/$VG/${P}cX of=/dev/null bs=1M count=1 status=none 2>&1 && echo ok || echo fails" | tail -1)"
v vol-delete --pool "$VG" "${P}cX" >/dev/null 2>&1 || th "lvremove -q -f $VG/${P}cX" || true
# Merge: the snapshot's changes go into the origin (the full becomes the incremental's point in time).
sumB=$(th "sha256sum /dev/$VG/${P}cB" | cut -c1-64)
sumA=$(th "sha256sum /dev/$VG/${P}cA" | cut -c1-64)
t=$(now); th "lvconvert -q --merge $VG/${P}cB && while lvs --noheadings -o lv_name $VG/${P}cB >/dev/null 2>&1; do sleep 0.2; done"
out classic.merge_B_seconds "$(since "$t")"
[ "$(th "sha256sum /dev/$VG/${P}full" | cut -c1-64)" = "$sumB" ] && out classic.merge_origin_is_B yes || out classic.merge_origin_is_B NO
[ "$(th "sha256sum /dev/$VG/${P}cA" | cut -c1-64)" = "$sumA" ] && out classic.merge_sibling_A_kept yes || out classic.merge_sibling_A_kept NO
read -r used meta < <(snapused "${P}cA"); out classic.merge_sibling_A_cow_bytes_after "$used"
v pool-refresh "$VG" >/dev/null
# Deleting a full that still has snapshots, through libvirt.
if err=$(v vol-delete --pool "$VG" "${P}full" 2>&1); then
  out classic.vol_delete_origin "deleted; snapshots left: $(th "lvs --noheadings -o lv_name -S 'lv_name=~^${P}c' $VG" | tr -d ' ' | tr '\n' ',')"
else out classic.vol_delete_origin "refused: $(printf '%s' "$err" | tr '\n' ' ' | cut -c1-200)"; fi
th "lvs -o lv_name,lv_attr,origin,lv_size $VG" >&2
v pool-refresh "$VG" >/dev/null
# The full is needed below: restore it (and drop what is left of the classic snapshots).
th "for lv in \$(lvs --noheadings -o lv_name -S 'lv_name=~^${P}c' $VG); do lvremove -q -f $VG/\$lv; done; lvs $VG/${P}full >/dev/null 2>&1 || true" || true
if ! th "lvs $VG/${P}full" >/dev/null 2>&1; then
  v pool-refresh "$VG" >/dev/null
  v vol-create-as "$VG" "${P}full" "${FULL_MIB}M" >/dev/null
  v vol-upload --pool "$VG" "${P}full" "$WORK/full.img"
fi

}

thin_section() {
# --- 2. thin snapshots (libvirt cannot make or list these: made with lvcreate) ---------------
th "lvcreate -q -L 1G -T $VG/${P}tpool && lvcreate -q -V ${FULL_MIB}M -T $VG/${P}tpool -n ${P}tfull &&
    dd if=/dev/$VG/${P}full of=/dev/$VG/${P}tfull bs=1M iflag=direct oflag=direct status=none"
out thin.chunk_bytes "$(th "lvs --noheadings --units b --nosuffix -o chunk_size $VG/${P}tpool" | tr -d ' ')"
out thin.full_pool_bytes "$(poolused "${P}tpool")"
v pool-refresh "$VG" >/dev/null
out thin.libvirt_lists "$(v vol-list "$VG" | awk '{ print $1 }' | grep -c -e "${P}t" || true) of the thin LVs"
for s in A Ag B; do
  name="${P}t$s"
  before=$(poolused "${P}tpool")
  t=$(now); th "lvcreate -q -s -kn -n $name $VG/${P}tfull"; out thin.$s.create_seconds "$(since "$t")"
  ddscript "$WORK/set$s" "/dev/$VG/$name" >"$WORK/$name.sh"
  t=$(now); th bash -s <"$WORK/$name.sh"; out thin.$s.write_seconds "$(since "$t")"
  after=$(poolused "${P}tpool")
  out thin.$s.pool_bytes_allocated "$((after - before))"
done
out thin.pool_metadata_percent "$(th "lvs --noheadings -o metadata_percent $VG/${P}tpool" | tr -d ' ')"
# A chain of five: tfull -> tB -> t3 -> t4 -> t5, 64 granules (set B shifted) per level.
parent="${P}tB"
for lvl in 3 4 5; do
  name="${P}t$lvl"
  awk -v s=$((lvl * 3 * GRAN)) -v size=$((FULL_MIB * 1048576)) '{ print ($1 + s) % size, $2 }' "$WORK/setB" >"$WORK/set$lvl"
  before=$(poolused "${P}tpool")
  th "lvcreate -q -s -kn -n $name $VG/$parent"
  ddscript "$WORK/set$lvl" "/dev/$VG/$name" >"$WORK/$name.sh"; th bash -s <"$WORK/$name.sh"
  out thin.chain_level$lvl.pool_bytes_allocated "$(( $(poolused "${P}tpool") - before ))"
  parent=$name
done
t=$(now); th "dd if=/dev/$VG/${P}t5 of=/dev/null bs=1M iflag=direct status=none"; out thin.read_level5_seconds "$(since "$t")"
t=$(now); th "dd if=/dev/$VG/${P}tfull of=/dev/null bs=1M iflag=direct status=none"; out thin.read_full_seconds "$(since "$t")"
# Deleting a parent in the middle of the chain: nothing to merge, its own blocks are freed.
sum5=$(th "sha256sum /dev/$VG/${P}t5" | cut -c1-64)
before=$(poolused "${P}tpool")
t=$(now); th "lvremove -q -f $VG/${P}t4"; out thin.delete_middle_seconds "$(since "$t")"
out thin.delete_middle_pool_bytes_freed "$((before - $(poolused "${P}tpool")))"
[ "$(th "sha256sum /dev/$VG/${P}t5" | cut -c1-64)" = "$sum5" ] && out thin.delete_middle_child_intact yes || out thin.delete_middle_child_intact NO
th "lvs -o lv_name,lv_attr,origin,lv_size,data_percent,metadata_percent $VG" >&2
th "lvremove -q -f -y $VG/${P}tpool"
v pool-refresh "$VG" >/dev/null

}

qcow2_section() {
# --- 3. qcow2 inside an LV, backing the full LV (header written by qemu-img here, uploaded) ----
qlayer() { # name backing backing-format
  qemu-img create -q -f qcow2 -o cluster_size=$GRAN -u -b "/dev/$VG/$2" -F "$3" "$WORK/$1.hdr" "${FULL_MIB}M"
  v vol-create-as "$VG" "$1" "${QLV_MIB}M" >/dev/null
  v vol-upload --pool "$VG" "$1" "$WORK/$1.hdr"
}
for s in A Ag B; do
  name="${P}q$s"
  t=$(now); qlayer "$name" "${P}full" raw; out qcow2.$s.create_seconds "$(since "$t")"
  before=$(qend "$name")
  t=$(now); th "qemu-io -f qcow2$(qioargs "$WORK/set$s") /dev/$VG/$name >/dev/null"; out qcow2.$s.write_seconds "$(since "$t")"
  out qcow2.$s.image_end_offset "$(qend "$name")"
  out qcow2.$s.image_end_before_writes "$before"
done
out qcow2.header_bytes "$(stat -c %s "$WORK/${P}qA.hdr")"
out qcow2.libvirt_format "$(v vol-dumpxml --pool "$VG" "${P}qB" | grep -c '<format' || true) format elements in vol-dumpxml"
# libvirt's copy of the layer (vol-create-from into a raw LV): the guest view, or the qcow2 bytes?
printf "<volume><name>%s</name><capacity unit='MiB'>%s</capacity><target><format type='raw'/></target></volume>" "${P}qcopy" "$QLV_MIB" >"$WORK/qcopy.xml"
if v vol-create-from "$VG" "$WORK/qcopy.xml" --inputpool "$VG" "${P}qB" >/dev/null 2>&1; then
  out qcow2.vol_create_from_copies "$(th "head -c 4 /dev/$VG/${P}qcopy | od -An -c" | tr -d ' ')"
else out qcow2.vol_create_from_copies failed; fi
# A chain of five: full -> qB -> q3 -> q4 -> q5.
parent="${P}qB"
for lvl in 3 4 5; do
  name="${P}q$lvl"
  qlayer "$name" "$parent" qcow2
  th "qemu-io -f qcow2$(qioargs "$WORK/set$lvl") /dev/$VG/$name >/dev/null"
  out qcow2.chain_level$lvl.image_end_offset "$(qend "$name")"
  parent=$name
done
t=$(now); th "qemu-io -r -f qcow2 -c 'read 0 ${FULL_MIB}M' /dev/$VG/${P}q5 >/dev/null"; out qcow2.read_level5_seconds "$(since "$t")"
th "qemu-img info --backing-chain /dev/$VG/${P}q5 | grep -E '^(image|backing file):'" >&2
# Merge through libvirt: a paused helper domain, block-stream q4 into q5 with q3 as the new base.
cat >"$WORK/helper.xml" <<EOF
<domain type='qemu'><name>${P}helper</name><memory unit='MiB'>32</memory><vcpu>1</vcpu>
<os><type arch='x86_64' machine='pc'>hvm</type></os>
<devices><disk type='block' device='disk'><driver name='qemu' type='qcow2'/><source dev='/dev/$VG/${P}q5'/><target dev='vda' bus='virtio'/></disk></devices></domain>
EOF
before=$(qend "${P}q5")
if v create "$WORK/helper.xml" --paused >/dev/null; then
  t=$(now)
  if v blockpull "${P}helper" vda --base "/dev/$VG/${P}q3" --wait >/dev/null 2>"$WORK/pull.err"; then
    out qcow2.merge_blockpull_seconds "$(since "$t")"
  else out qcow2.merge_blockpull "failed: $(tr '\n' ' ' <"$WORK/pull.err" | cut -c1-200)"; fi
  v destroy "${P}helper" >/dev/null
  out qcow2.merge_q5_end_before "$before"
  out qcow2.merge_q5_end_after "$(qend "${P}q5")"
  th "qemu-img info /dev/$VG/${P}q5 | grep -E '^backing file:'" >&2
else out qcow2.merge_helper_domain "failed to start"; fi
th "lvs -o lv_name,lv_size $VG" >&2
}

for sec in base job classic thin qcow2 reader; do want "$sec" && { log "section $sec"; "${sec}_section"; }; done
log "done"
