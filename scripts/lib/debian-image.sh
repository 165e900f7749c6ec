# Shared by the scripts that build small Debian 12 VM images from Debian packages (scripts/testhost,
# scripts/agentguest): the recipe's common steps (archive, minbase bootstrap, packages in a chroot)
# and the host side of a build (host packages, steps with logs, masking the mirror, an atomic move
# into the cache). Sourced, never run. The sourcing script defines say/act/die/need_root, $suite,
# $cache, $img, $key, $image_what, host_packages, guest_packages, and its own recipe_configure and
# recipe_pack; every recipe_* function goes into its cache key.

# recipe_sources: the Debian archive this machine's apt uses for $suite (and its -updates and
# -security), as "deb URI SUITE main" lines. Read at each build; never stored.
recipe_sources() {
  apt-get indextargets --format '$(REPO_URI) $(RELEASE) $(COMPONENT)' 'Identifier: Packages' 2>/dev/null |
    awk -v s="$suite" '$3 == "main" && ($2 == s || $2 == s "-updates" || $2 == s "-security") {
      print "deb " $1 " " $2 " main" }' | sort -u
}

# recipe_bootstrap ROOT MIRROR: a minbase system. Everything else comes from apt in the chroot:
# debootstrap's resolver cannot pick polkitd's virtual dependency (default-logind | logind).
recipe_bootstrap() {
  debootstrap --variant=minbase --arch=amd64 "$suite" "$1" "$2"
}

# recipe_packages ROOT SOURCES APT-OPTIONS...: the guest packages, installed by apt in the chroot
# with daemons kept from starting.
recipe_packages() {
  local r=$1 sources=$2; shift 2
  mount -t proc proc "$r/proc"
  mount -t sysfs sysfs "$r/sys"
  # A private /dev, never this machine's: package scripts in the chroot (qemu's, udev's) chown
  # device nodes to the chroot's own groups, and once turned the host's /dev/kvm over to gid 103
  # (here ssl-cert), so QEMU lost KVM and every domain start waited on libvirt re-probing QEMU.
  mount -t tmpfs -o mode=0755,nosuid dev "$r/dev"
  local node name major minor
  for node in null:1:3 zero:1:5 full:1:7 random:1:8 urandom:1:9 tty:5:0; do
    IFS=: read -r name major minor <<<"$node"
    mknod -m 666 "$r/dev/$name" c "$major" "$minor"
  done
  mkdir -p "$r/dev/pts" "$r/dev/shm"
  mount -t devpts -o newinstance,ptmxmode=0666 devpts "$r/dev/pts"
  ln -s pts/ptmx "$r/dev/ptmx"
  printf '#!/bin/sh\nexit 101\n' > "$r/usr/sbin/policy-rc.d"
  chmod 755 "$r/usr/sbin/policy-rc.d"
  printf '%s\n' "$sources" > "$r/etc/apt/sources.list"
  chroot "$r" env DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 apt-get "$@" update
  chroot "$r" env DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 \
    apt-get "$@" install -y --no-install-recommends "${guest_packages[@]}"
}

# ---- host side of the build ----------------------------------------------------------------------

install_host_packages() {
  local missing=() p
  for p in "${host_packages[@]}"; do
    [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" = "install ok installed" ] || missing+=("$p")
  done
  [ ${#missing[@]} = 0 ] && return
  act "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# unmount_under DIR: lazily unmounts every mount below DIR, deepest first.
unmount_under() {
  local m
  awk -v d="$1/" 'index($2, d) == 1 { print $2 }' /proc/self/mounts | sort -r |
    while read -r m; do umount -l "$m"; done
}

# stale_processes DIR: processes still working in DIR (chrooted into it, or naming it, like
# debootstrap) after their build was killed without its clean-up.
stale_processes() {
  local p
  for p in /proc/[0-9]*; do
    [ "${p#/proc/}" != $$ ] || continue
    if [[ "$(readlink "$p/root" 2>/dev/null)" == "$1"/* ]] ||
      [[ "$(tr '\0' ' ' 2>/dev/null < "$p/cmdline")" == *"$1"/* ]]; then
      echo "${p#/proc/}"
    fi
  done
}

# remove_build DIR: a build directory (or an image), never following a mount out of it; ends what
# an interrupted build left running in it first.
remove_build() {
  local pids=()
  mapfile -t pids < <(stale_processes "$1")
  if [ ${#pids[@]} -gt 0 ]; then
    act "ending processes of an interrupted build: ${pids[*]}"
    kill -TERM "${pids[@]}" 2>/dev/null || true
    for _ in $(seq 25); do [ -n "$(stale_processes "$1")" ] || break; sleep 0.2; done
    mapfile -t pids < <(stale_processes "$1")
    [ ${#pids[@]} = 0 ] || kill -KILL "${pids[@]}" 2>/dev/null || true
  fi
  unmount_under "$1"
  if awk -v d="$1/" 'index($2, d) == 1 { found = 1 } END { exit !found }' /proc/self/mounts; then
    die "$1 still has mounts below it; not removing it"
  fi
  rm -rf --one-file-system "$1"
}

# mask FILE...: replaces the archive's host names by MIRROR (logs must not name them).
mask_hosts=()
mask() {
  local h
  for h in "${mask_hosts[@]}"; do sed -i "s#${h//./\\.}#MIRROR#g" "$@"; done
}

build_work=
step_pgid=
build_cleanup() {
  [ -n "$build_work" ] && [ -d "$build_work" ] || return 0
  stop_step
  if [ -f "$build_work/build.log" ]; then
    mask "$build_work/build.log"
    install -m 600 "$build_work/build.log" "$cache/failed-build.log"
  fi
  remove_build "$build_work"
}

# stop_step: ends the running step's process group (apt and dpkg in the chroot included), if any.
stop_step() {
  [ -n "$step_pgid" ] || return 0
  kill -TERM -- "-$step_pgid" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 -- "-$step_pgid" 2>/dev/null || break; sleep 0.2; done
  kill -KILL -- "-$step_pgid" 2>/dev/null || true
  step_pgid=
}

# step NAME COMMAND...: runs one recipe step into the build log; on failure shows its masked tail.
step() {
  local what=$1 t0=$SECONDS; shift
  echo "=== $what" >> "$build_work/build.log"
  # A background subshell keeps errexit in force inside the step (an "if" would switch it off);
  # set -m gives it its own process group, which an interrupted build ends as a whole.
  set -m
  ( "$@" ) >> "$build_work/build.log" 2>&1 9>&- &   # not holding the build lock if orphaned
  step_pgid=$!
  set +m
  if ! wait "$step_pgid"; then
    step_pgid=
    mask "$build_work/build.log"
    tail -n 30 "$build_work/build.log" >&2
    die "build step '$what' failed (log: $cache/failed-build.log)"
  fi
  step_pgid=
  say "$what: $((SECONDS - t0)) s"
}

# build_image: builds $img (the cache key's image) from the recipe, unless it is cached: recipe_bootstrap,
# recipe_packages, then the caller's recipe_configure and recipe_pack. $image_what names the image in messages.
build_image() {
  need_root
  if [ -f "$img/ok" ]; then say "image cached: $img"; return; fi
  install_host_packages
  install -d -m 700 "$cache"
  exec 9>"$cache/.lock"
  flock -n 9 || { say "waiting for another build of $image_what"; flock 9; }
  if [ -f "$img/ok" ]; then say "image cached: $img"; exec 9>&-; return; fi
  local d
  for d in "$cache"/.build-*; do [ -d "$d" ] && { act "removing an interrupted build: $d"; remove_build "$d"; }; done

  local sources mirror t0=$SECONDS apt_opts=() o v
  # the chroot's apt checks Release files the way this machine's apt does (a snapshot mirror
  # needs Check-Valid-Until=false)
  for o in Acquire::Check-Valid-Until Acquire::Check-Date; do
    v=$(apt-config dump --no-empty --format '%v' "$o")
    [ -z "$v" ] || apt_opts+=(-o "$o=$v")
  done
  sources=$(recipe_sources)
  mirror=$(awk -v s="$suite" '$3 == s { print $2; exit }' <<<"$sources")
  [ -n "$mirror" ] || die "apt on this machine has no '$suite main' source to build $image_what from"
  mapfile -t mask_hosts < <(awk '{ split($2, u, "/"); print u[3] }' <<<"$sources" | sort -u)

  act "building the $image_what image (key $key); takes about 2 minutes"
  build_work=$(mktemp -d "$cache/.build-XXXXXX")
  trap build_cleanup EXIT
  trap 'exit 130' INT TERM
  local r=$build_work/root
  step debootstrap recipe_bootstrap "$r" "$mirror"
  step packages recipe_packages "$r" "$sources" "${apt_opts[@]}"
  step configure recipe_configure "$r" "$build_work"
  step pack recipe_pack "$r" "$build_work"
  # Where apt and debootstrap keep sources, lists, caches and logs: everything but /usr, whose
  # files come unchanged from packages (apt's dselect method names Debian's default archive).
  local h d patterns=() places=()
  for h in "${mask_hosts[@]}"; do patterns+=(-e "$h"); done
  for d in "$r"/*; do [ -L "$d" ] || [ "$d" = "$r/usr" ] || places+=("$d"); done
  if grep -rlF "${patterns[@]}" "${places[@]}" > "$build_work/mirror-traces" 2>/dev/null; then
    die "the image still names the package mirror in: $(tr '\n' ' ' < "$build_work/mirror-traces")"
  fi
  rm -rf --one-file-system "$r" "$build_work/mirror-traces"
  mask "$build_work/build.log"
  chmod 600 "$build_work"/*
  echo "$suite, built $(date -u +%FT%TZ) in $((SECONDS - t0)) s" > "$build_work/ok"
  mv "$build_work" "$img"
  build_work=
  trap - EXIT INT TERM
  rm -f "$cache/failed-build.log"
  exec 9>&-
  act "image ready: $img ($(du -sh "$img" | cut -f1)) after $((SECONDS - t0)) s"
}
