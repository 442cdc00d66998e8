#!/usr/bin/env bash
# scripts/engines.sh: make the two container engines devarch's tests run against, and the
# fixture images those tests use, exist on this machine. Run as root. Every step is
# idempotent and returns quickly when its work is already done.
#
#   scripts/engines.sh install   apt-get install the engines and tools (apt-get update only if
#                                something is missing)
#   scripts/engines.sh start     start dockerd and `podman system service` unless their sockets
#                                already answer; write Podman's containers.conf drop-in
#                                (`start docker` or `start podman`: only that one)
#   scripts/engines.sh images    build or import the fixture images into both engines, skipping
#                                those already there with the same content hash
#   scripts/engines.sh status    versions, which sockets answer, which fixture images exist
#   scripts/engines.sh stop      stop the daemons that this script started (by their pid files)
#                                (`stop docker` or `stop podman`: only that one; the
#                                engine-restart test uses these)
#   scripts/engines.sh all       install + start + images
#
# Endpoints for tests:
#   Docker  unix:///var/run/docker.sock   (dockerd 20.10, API 1.41)
#   Podman  unix:///run/podman/podman.sock (Docker-compatible API and libpod API, Podman 4.3)
#
# Fixture images (tests/fixtures/images/README.md): devarch-fixture/busybox:1,
# devarch-fixture/debian:12, devarch-fixture/redis:7, devarch-fixture/postgres:15,
# devarch-fixture/mariadb:10, devarch-fixture/dbclient:1 (psql and mariadb),
# devarch-fixture/router:1 (nginx, the domain router). Podman names them
# localhost/devarch-fixture/...; Docker names them without a registry prefix.
#
# Tunables (environment):
#   DEVARCH_ENGINE_TIMEOUT   seconds to wait for a daemon to answer (default 60)
#   DEVARCH_DOCKERD_FLAGS    extra dockerd flags, e.g. "--storage-driver=vfs" on a machine whose
#                            /var/lib/docker cannot hold overlayfs (none are needed here)
#   DEVARCH_PODMAN_IMAGES    "load" (default): copy images that Docker already has into Podman
#                            with `docker save | podman load`; "build": build them with Podman
#   DEVARCH_DEBIAN_MIRROR    Debian mirror for debootstrap (default: the one apt uses here)
#   DEVARCH_CACHE_DIR        where the debootstrapped rootfs tarball is kept (/var/cache/devarch)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
IMAGES_DIR=$ROOT/tests/fixtures/images
CACHE_DIR=${DEVARCH_CACHE_DIR:-/var/cache/devarch}
TIMEOUT=${DEVARCH_ENGINE_TIMEOUT:-60}
PODMAN_IMAGES=${DEVARCH_PODMAN_IMAGES:-load}

DOCKER_SOCK=/var/run/docker.sock
DOCKERD_LOG=/var/log/devarch-dockerd.log
DOCKERD_PIDFILE=/run/devarch-dockerd.pid      # written only for a dockerd this script started
DOCKERD_POOL=base=10.201.0.0/16,size=24       # see start_docker
PODMAN_SOCK=/run/podman/podman.sock
PODMAN_LOG=/var/log/devarch-podman.log
PODMAN_PIDFILE=/run/podman/devarch-podman.pid # written only for a service this script started
PODMAN_CONF=/etc/containers/containers.conf.d/50-devarch.conf
IMAGES_LOG=/var/log/devarch-images.log

# Packages, all from Debian bookworm. aardvark-dns (container name resolution on Podman
# networks) and netavark are only Recommends of podman's dependencies: list them so a machine
# with Recommends turned off still resolves container names. curl talks to the sockets.
PACKAGES=(docker.io podman busybox-static debootstrap uidmap netavark aardvark-dns curl)

LABEL_KEY=devarch.fixture.hash
DEBIAN_SUITE=bookworm

log() { printf '[engines] %s\n' "$*"; }
die() {
  printf '[engines] ERROR: %s\n' "$*" >&2
  exit 1
}

# `docker` is whatever is first on PATH (this machine also has a newer static CLI in
# /usr/local/bin; it negotiates API 1.41 with Debian's dockerd). Always aim it at our socket,
# whatever DOCKER_HOST or the CLI context say. The classic builder: the daemon is 20.10 and there
# is no buildx plugin, so BuildKit is not an option with newer CLIs.
docker() { DOCKER_BUILDKIT=0 command docker -H "unix://$DOCKER_SOCK" "$@"; }
# The local podman CLI shares storage with the service; never go through CONTAINER_HOST.
podman() { env -u CONTAINER_HOST -u CONTAINER_CONNECTION podman "$@"; }

# Does the engine API on socket $1 answer /_ping with OK?
answers() {
  [[ -S $1 ]] && [[ $(curl -fsS -m 3 --unix-socket "$1" http://d/_ping 2>/dev/null) == OK ]]
}

# Is $1 (a pid) alive and its command line contains $2? A zombie has an empty command line,
# so it does not count: PID 1 here does not always reap the orphans of a killed daemon.
pid_is() {
  local cmdline
  [[ -n $1 ]] && cmdline=$(tr '\0' ' ' 2>/dev/null <"/proc/$1/cmdline") && [[ $cmdline == *"$2"* ]]
}

# One run at a time: concurrent CI steps would otherwise start two dockerds or build the same
# image twice. File descriptor 9 holds the lock; daemons are started with 9>&- so they do not
# keep holding it after this script exits.
take_lock() {
  mkdir -p /run/lock
  exec 9>/run/lock/devarch-engines.lock
  if ! flock -n 9; then
    log "another engines.sh is running; waiting for it"
    flock 9
  fi
}

# ---------------------------------------------------------------------------------------------
# install

cmd_install() {
  local missing=() p
  for p in "${PACKAGES[@]}"; do
    [[ $(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true) == installed ]] ||
      missing+=("$p")
  done
  if ((${#missing[@]} == 0)); then
    log "install: all packages present (${PACKAGES[*]})"
    return
  fi
  log "install: apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}"
}

# ---------------------------------------------------------------------------------------------
# start

# Waits until socket $1 answers; $2 names the daemon (and is part of its command line), $3 is
# its pid (or empty), $4 its log.
wait_for() {
  local sock=$1 name=$2 pid=$3 logf=$4 deadline=$((SECONDS + TIMEOUT))
  until answers "$sock"; do
    # `alive`, not `pid_is`: until its exec the child still runs under this script's name.
    if [[ -n $pid ]] && ! alive "$pid"; then
      printf '%s exited while starting; last lines of %s:\n' "$name" "$logf" >&2
      tail -n 25 "$logf" >&2 || true
      die "$name did not start"
    fi
    if ((SECONDS >= deadline)); then
      printf '%s did not answer on %s within %ss; last lines of %s:\n' \
        "$name" "$sock" "$TIMEOUT" "$logf" >&2
      tail -n 25 "$logf" >&2 || true
      die "$name did not start (raise DEVARCH_ENGINE_TIMEOUT?)"
    fi
    sleep 0.2
  done
}

# dockerd. There is no systemd here (PID 1 is the sandbox's own process), so no
# `systemctl start docker`: dockerd runs in the background, in its own session (setsid) so it
# outlives the shell or CI step that started it. It then starts its own containerd
# (/var/run/docker/containerd/containerd.sock).
#
# No special flags are needed on this machine (checked by hand): overlay2 works on the ext4
# root, cgroups are v1 (hybrid, cgroupfs driver), the iptables in Debian 12 (nf_tables backend)
# accepts Docker's NAT rules, so containers on user-defined bridges reach each other by name
# (embedded DNS at 127.0.0.11) and reach the Debian mirror (needed by `docker build`).
# `--iptables=false` would break both outbound access and published ports, so it is not used.
# One flag is added: Docker's default address pools hold only about 31 bridge networks, and
# each stack has one, so a folder of 50 stacks fails (Docker answers 404 "could not find an
# available, non-overlapping IPv4 address pool"). DOCKERD_POOL gives it 256 /24 networks in
# 10.201.0.0/16 (Podman's default pool, 10.89.0.0/16, holds 256 already).
# Elsewhere, DEVARCH_DOCKERD_FLAGS can add e.g. --storage-driver=vfs.
start_docker() {
  if answers "$DOCKER_SOCK"; then
    log "docker: answering on $DOCKER_SOCK"
    return
  fi
  local pid=""
  if pid_is "$(cat "$DOCKERD_PIDFILE" 2>/dev/null || true)" dockerd; then
    pid=$(cat "$DOCKERD_PIDFILE")
    log "docker: dockerd (pid $pid) is still starting; waiting"
  else
    # dockerd refuses to start while its pid file names a live process, and a killed dockerd
    # can linger as a zombie (or its pid be reused): drop a pid file that is not a dockerd.
    pid_is "$(cat /var/run/docker.pid 2>/dev/null || true)" dockerd || rm -f /var/run/docker.pid
    log "docker: starting dockerd --default-address-pool $DOCKERD_POOL${DEVARCH_DOCKERD_FLAGS:+ $DEVARCH_DOCKERD_FLAGS} (log: $DOCKERD_LOG)"
    printf '\n==== %s engines.sh starts dockerd\n' "$(date -Is)" >>"$DOCKERD_LOG"
    # shellcheck disable=SC2086 # DEVARCH_DOCKERD_FLAGS is a list of flags
    (cd / && exec setsid dockerd --default-address-pool "$DOCKERD_POOL" ${DEVARCH_DOCKERD_FLAGS:-} \
      >>"$DOCKERD_LOG" 2>&1 </dev/null 9>&-) &
    pid=$!
    echo "$pid" >"$DOCKERD_PIDFILE"
  fi
  wait_for "$DOCKER_SOCK" dockerd "$pid" "$DOCKERD_LOG"
  docker info >/dev/null 2>&1 || die "dockerd answers /_ping but 'docker info' fails; see $DOCKERD_LOG"
  log "docker: ready ($(docker version --format '{{.Server.Version}}, API {{.Server.APIVersion}}'))"
}

# The drop-in Podman needs here (read by the CLI and by the service when it starts):
# - runtime = "runc": Podman's built-in default is crun, which is not installed (Debian's
#   podman depends on crun | runc, and docker.io brings runc).
# - default_ulimits: Podman's default for root is nofile=1048576, more than the hard limit
#   here, and runc cannot raise a hard limit because the sandbox withholds CAP_SYS_RESOURCE
#   ("error setting rlimit type 7: operation not permitted"). Podman also lowers its own
#   RLIMIT_NPROC to kernel.pid_max (32768) when it starts, so an nproc above that fails too
#   (rlimit type 6). So both are set explicitly, to this shell's hard limits, nproc capped at
#   pid_max. The service inherits these limits from this script, so they always fit.
#   (Through the API, a container that sets any ulimit loses these defaults: see the brief.)
# - cgroup_manager = "cgroupfs", events_logger = "file", log_driver = "k8s-file": there is no
#   systemd and no journald.
podman_conf() {
  local nofile nproc pid_max
  nofile=$(ulimit -Hn)
  [[ $nofile == unlimited ]] && nofile=1048576
  nproc=$(ulimit -Hu)
  pid_max=$(cat /proc/sys/kernel/pid_max)
  [[ $nproc == unlimited || $nproc -gt $pid_max ]] && nproc=$pid_max
  cat <<EOF
# Written by devarch scripts/engines.sh; see the comments there. Rewritten on every start.
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]
log_driver = "k8s-file"

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF
}

start_podman() {
  local conf changed=0 pid=""
  conf=$(podman_conf)
  if [[ ! -f $PODMAN_CONF || $(cat "$PODMAN_CONF") != "$conf" ]]; then
    mkdir -p "$(dirname "$PODMAN_CONF")"
    printf '%s\n' "$conf" >"$PODMAN_CONF"
    changed=1
    log "podman: wrote $PODMAN_CONF"
  fi
  pid=$(cat "$PODMAN_PIDFILE" 2>/dev/null || true)
  pid_is "$pid" "system service" || pid=""
  if answers "$PODMAN_SOCK"; then
    if ((changed)) && [[ -n $pid ]]; then
      log "podman: configuration changed; restarting the service (pid $pid)"
      stop_pid "$pid" podman
      rm -f "$PODMAN_PIDFILE"
      pid=""
    else
      ((changed)) && log "podman: WARNING: configuration changed but the service on" \
        "$PODMAN_SOCK was not started by this script; restart it yourself"
      log "podman: answering on $PODMAN_SOCK"
      return
    fi
  fi
  if [[ -n $pid ]]; then
    log "podman: service (pid $pid) is still starting; waiting"
  else
    log "podman: starting podman system service (log: $PODMAN_LOG)"
    mkdir -p "$(dirname "$PODMAN_SOCK")"
    rm -f "$PODMAN_SOCK" # a stale socket left by a service that died
    printf '\n==== %s engines.sh starts podman system service\n' "$(date -Is)" >>"$PODMAN_LOG"
    (cd / && exec setsid env -u CONTAINER_HOST -u CONTAINER_CONNECTION \
      podman system service --time=0 "unix://$PODMAN_SOCK" \
      >>"$PODMAN_LOG" 2>&1 </dev/null 9>&-) &
    pid=$!
    echo "$pid" >"$PODMAN_PIDFILE"
  fi
  wait_for "$PODMAN_SOCK" "podman system service" "$pid" "$PODMAN_LOG"
  log "podman: ready ($(podman --version))"
}

# $1: docker, podman or empty (both).
cmd_start() {
  command -v curl >/dev/null || die "curl is missing: run '$0 install' first"
  [[ ${1:-docker} == docker ]] && start_docker
  [[ ${1:-podman} == podman ]] && start_podman
  return 0
}

# ---------------------------------------------------------------------------------------------
# stop (only what this script started)

# Is process $1 alive (and not a zombie)?
alive() {
  local stat
  stat=$(cat 2>/dev/null <"/proc/$1/stat") || return 1
  stat=${stat##*) }
  [[ $stat != Z* && $stat != X* ]]
}

stop_pid() {
  local pid=$1 name=$2 i
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 150; i++)); do
    alive "$pid" || return 0
    sleep 0.2
  done
  log "$name (pid $pid) ignored SIGTERM for 30s; sending SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
}

# $1: docker, podman or empty (both). Fails when asked for one engine that this script did
# not start (it cannot stop a daemon it does not own).
cmd_stop() {
  local pid
  if [[ ${1:-podman} == podman ]]; then
    pid=$(cat "$PODMAN_PIDFILE" 2>/dev/null || true)
    if pid_is "$pid" "system service"; then
      log "podman: stopping service (pid $pid)"
      stop_pid "$pid" podman
    elif [[ -n ${1:-} ]]; then
      die "podman: no service started by this script is running ($PODMAN_PIDFILE)"
    fi
    rm -f "$PODMAN_PIDFILE"
  fi
  if [[ ${1:-docker} == docker ]]; then
    pid=$(cat "$DOCKERD_PIDFILE" 2>/dev/null || true)
    if pid_is "$pid" dockerd; then
      log "docker: stopping dockerd (pid $pid)"
      stop_pid "$pid" dockerd
    elif [[ -n ${1:-} ]]; then
      die "docker: no dockerd started by this script is running ($DOCKERD_PIDFILE)"
    fi
    rm -f "$DOCKERD_PIDFILE"
  fi
}

# ---------------------------------------------------------------------------------------------
# images

# Content hash of a fixture's recipe: every file under the directory (names and contents),
# plus any extra strings given. Stored as the image label devarch.fixture.hash, so a changed
# recipe rebuilds the image and an unchanged one is skipped.
recipe_hash() {
  local dir=$1
  shift
  {
    (cd "$dir" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum)
    printf '%s\n' "$@"
  } | sha256sum | cut -c1-16
}

hash_busybox() { recipe_hash "$IMAGES_DIR/busybox" "$(sha256sum </bin/busybox)"; }
hash_debian() { recipe_hash "$IMAGES_DIR/debian" "debootstrap --variant=minbase $DEBIAN_SUITE"; }
hash_redis() { recipe_hash "$IMAGES_DIR/redis" "$(hash_debian)"; }
hash_postgres() { recipe_hash "$IMAGES_DIR/postgres" "$(hash_debian)"; }
hash_mariadb() { recipe_hash "$IMAGES_DIR/mariadb" "$(hash_debian)"; }
hash_dbclient() { recipe_hash "$IMAGES_DIR/dbclient" "$(hash_debian)"; }
hash_router() { recipe_hash "$IMAGES_DIR/router" "$(hash_debian)"; }

# The label value of image $2 in engine $1, or nothing if the image does not exist.
image_hash() {
  "$1" image inspect --format "{{ index .Config.Labels \"$LABEL_KEY\" }}" "$2" 2>/dev/null || true
}

# Run "$@" with its output going to the images log; on failure show the tail and stop.
logged() {
  local what=$1 start=$SECONDS
  shift
  printf '\n==== %s %s\n' "$(date -Is)" "$what" >>"$IMAGES_LOG"
  if ! "$@" >>"$IMAGES_LOG" 2>&1 </dev/null; then
    printf 'failed: %s; last lines of %s:\n' "$what" "$IMAGES_LOG" >&2
    tail -n 30 "$IMAGES_LOG" >&2
    die "$what failed"
  fi
  log "  $what: done in $((SECONDS - start))s"
}

# The Debian mirror that apt uses here (from the sources lists, no download needed), so the
# fixture is made from the same place as the machine's own packages.
debian_mirror() {
  if [[ -n ${DEVARCH_DEBIAN_MIRROR:-} ]]; then
    echo "$DEVARCH_DEBIAN_MIRROR"
    return
  fi
  local m
  # shellcheck disable=SC2016 # $(...) is apt's own format syntax
  m=$(apt-get indextargets --no-release-info --format '$(REPO_URI) $(RELEASE)' \
    'Identifier: Packages' 2>/dev/null | awk -v s="$DEBIAN_SUITE" '$2 == s { print $1; exit }')
  echo "${m:-http://deb.debian.org/debian/}"
}

# Remove a debootstrap work directory safely: unmount anything debootstrap left mounted inside
# (proc, sys, ... after an interrupted run) and never cross into another file system.
remove_tree() {
  local dir=$1 m
  [[ -d $dir ]] || return 0
  while read -r m; do
    umount -l "$m" 2>/dev/null || true
  done < <(awk -v d="$dir/" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r)
  rm -rf --one-file-system "$dir"
}

# Sets DEBIAN_TAR to the rootfs tarball of devarch-fixture/debian:12, made once and cached
# for both engines and for later runs; its name carries the recipe hash.
debian_tarball() {
  local h work mirror
  h=$(hash_debian)
  DEBIAN_TAR=$CACHE_DIR/debian-12-minbase-$h.tar
  [[ -s $DEBIAN_TAR ]] && return
  mkdir -p "$CACHE_DIR"
  # Leftovers of interrupted runs (we hold the lock, so none is in use).
  for work in "$CACHE_DIR"/work.*; do remove_tree "$work"; done
  work=$CACHE_DIR/work.$$
  mirror=$(debian_mirror)
  log "  debootstrap --variant=minbase $DEBIAN_SUITE from $mirror (about a minute)"
  # shellcheck disable=SC2064 # expand $work now
  trap "remove_tree '$work'" EXIT
  logged "debootstrap" debootstrap --variant=minbase "$DEBIAN_SUITE" "$work/rootfs" "$mirror"
  logged "finish rootfs" sh "$IMAGES_DIR/debian/finish-rootfs.sh" "$work/rootfs"
  logged "tar rootfs" tar --numeric-owner --xattrs --exclude='./dev/*' --exclude='./proc/*' \
    --exclude='./sys/*' --exclude='./run/*' -C "$work/rootfs" -cf "$work/rootfs.tar" .
  # Keep only the current recipe's tarball.
  find "$CACHE_DIR" -maxdepth 1 -name 'debian-12-minbase-*.tar' -delete
  mv "$work/rootfs.tar" "$DEBIAN_TAR"
  remove_tree "$work"
  trap - EXIT
}

copy_to_podman() { docker save "$1" | podman load; }

# Build or copy one fixture into engine $1 (docker|podman). $2 is the fixture (a directory
# of tests/fixtures/images: busybox, debian, redis, postgres, mariadb, dbclient, router), $3 its image
# name.
ensure_image() {
  local engine=$1 fixture=$2 ref=$3 h have ctx
  h=$(hash_"$fixture")
  have=$(image_hash "$engine" "$ref")
  if [[ $have == "$h" ]]; then
    log "$engine: $ref is up to date"
    return
  fi
  log "$engine: $ref ${have:+is stale, }building"

  # Podman: the quickest reliable way is to copy what Docker already built (same image ID,
  # labels and HEALTHCHECK; a few seconds instead of another debootstrap import or apt run).
  if [[ $engine == podman && $PODMAN_IMAGES == load ]] && answers "$DOCKER_SOCK" &&
    [[ $(image_hash docker "$ref") == "$h" ]]; then
    logged "docker save $ref | podman load" copy_to_podman "$ref"
    return
  fi

  # Podman builds: `--format docker`, else HEALTHCHECK is dropped (OCI image configs have
  # none); `--pull=never`, as there is no registry and the base image is local.
  local build=(docker build)
  [[ $engine == podman ]] && build=(podman build --format docker --pull=never)
  case $fixture in
    busybox)
      ctx=$(mktemp -d)
      cp "$IMAGES_DIR/busybox/Dockerfile" /bin/busybox "$ctx/"
      logged "$engine build $ref" "${build[@]}" --label "$LABEL_KEY=$h" -t "$ref" "$ctx"
      rm -rf "$ctx"
      ;;
    debian)
      debian_tarball
      logged "$engine import $ref" "$engine" import \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV LANG=C.UTF-8' \
        --change "LABEL $LABEL_KEY=$h" \
        --change 'CMD ["bash"]' \
        "$DEBIAN_TAR" "$ref"
      ;;
    redis | postgres | mariadb | dbclient | router)
      logged "$engine build $ref" "${build[@]}" --label "$LABEL_KEY=$h" -t "$ref" \
        "$IMAGES_DIR/$fixture"
      ;;
  esac
  [[ $(image_hash "$engine" "$ref") == "$h" ]] || die "$engine: $ref missing after build"
}

FIXTURES=(
  "busybox devarch-fixture/busybox:1"
  "debian devarch-fixture/debian:12"
  "redis devarch-fixture/redis:7"
  "postgres devarch-fixture/postgres:15"
  "mariadb devarch-fixture/mariadb:10"
  "dbclient devarch-fixture/dbclient:1"
  "router devarch-fixture/router:1"
)

cmd_images() {
  local engine f
  answers "$DOCKER_SOCK" || die "docker does not answer on $DOCKER_SOCK: run '$0 start' first"
  answers "$PODMAN_SOCK" || die "podman does not answer on $PODMAN_SOCK: run '$0 start' first"
  # Docker first, so Podman can copy from it.
  for engine in docker podman; do
    for f in "${FIXTURES[@]}"; do
      # shellcheck disable=SC2086 # "fixture ref" pairs
      ensure_image "$engine" $f
    done
  done
}

# ---------------------------------------------------------------------------------------------
# status

cmd_status() {
  local f fixture ref h
  printf 'dockerd:  %s\n' "$(dockerd --version 2>/dev/null || echo 'not installed')"
  printf 'docker:   %s (%s)\n' "$(command docker --version 2>/dev/null || echo 'not installed')" \
    "$(command -v docker || true)"
  printf 'podman:   %s\n' "$(command podman --version 2>/dev/null || echo 'not installed')"
  if answers "$DOCKER_SOCK"; then
    printf 'docker socket %s: answers (server %s)\n' "$DOCKER_SOCK" \
      "$(docker version --format '{{.Server.Version}}, API {{.Server.APIVersion}}' 2>/dev/null)"
  else
    printf 'docker socket %s: does not answer\n' "$DOCKER_SOCK"
  fi
  if answers "$PODMAN_SOCK"; then
    printf 'podman socket %s: answers (compat API %s)\n' "$PODMAN_SOCK" \
      "$(curl -fsS -m 3 --unix-socket "$PODMAN_SOCK" http://d/version |
        sed -n 's/.*"ApiVersion":"\([^"]*\)".*/\1/p')"
  else
    printf 'podman socket %s: does not answer\n' "$PODMAN_SOCK"
  fi
  printf 'podman drop-in %s: %s\n' "$PODMAN_CONF" \
    "$([[ -f $PODMAN_CONF ]] && grep default_ulimits "$PODMAN_CONF" || echo missing)"
  for f in "${FIXTURES[@]}"; do
    read -r fixture ref <<<"$f"
    h=$(hash_"$fixture")
    printf '%-28s' "$ref"
    for engine in docker podman; do
      local have=""
      if [[ $engine == docker ]] && answers "$DOCKER_SOCK"; then
        have=$(image_hash docker "$ref")
      elif [[ $engine == podman ]] && command -v podman >/dev/null; then
        have=$(image_hash podman "$ref")
      fi
      if [[ -z $have ]]; then
        printf '  %s: missing' "$engine"
      elif [[ $have == "$h" ]]; then
        printf '  %s: ok' "$engine"
      else
        printf '  %s: stale' "$engine"
      fi
    done
    printf '\n'
  done
}

# ---------------------------------------------------------------------------------------------

main() {
  local cmd=${1:-} which=${2:-}
  case $which in
    "" | docker | podman) ;;
    *) die "unknown engine '$which' (docker or podman)" ;;
  esac
  case $cmd in
    install | start | images | stop | all) ;;
    status)
      cmd_status
      return
      ;;
    *)
      sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
      exit 2
      ;;
  esac
  [[ $(id -u) == 0 ]] || die "run as root"
  take_lock
  local start=$SECONDS
  case $cmd in
    install) cmd_install ;;
    start) cmd_start "$which" ;;
    images) cmd_images ;;
    stop) cmd_stop "$which" ;;
    all)
      cmd_install
      cmd_start
      cmd_images
      ;;
  esac
  log "$cmd: done in $((SECONDS - start))s"
}

main "$@"
