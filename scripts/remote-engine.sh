#!/usr/bin/env bash
# scripts/remote-engine.sh: a second, test-only dockerd that stands in for a remote engine, on
# loopback TCP (tcp://127.0.0.1:23750) and behind an sshd on loopback (port 2222), for
# tests/remote.rs. Run as root. Idempotent.
#
#   scripts/remote-engine.sh start    install openssh-server if missing; start both; copy the
#                                     fixture images it needs from the main Docker
#   scripts/remote-engine.sh stop     remove everything on it, stop both, remove its bridge
#   scripts/remote-engine.sh env      the variables tests/remote.rs reads (eval "$(... env)")
#
# Nothing here may change the main engines' state (a stray bridge once looked exactly like a
# product flake): the daemon has its own data root, exec root, pid file and sockets; its own
# bridge interface, which this script creates and removes (never --bridge=none, with which
# dockerd deletes the host's docker0); its own address pool, away from the main dockerd's
# 10.201.0.0/16 and Podman's 10.88-10.89; and --iptables=false, so the host's NAT tables stay
# the main engines' alone (published ports still work through docker-proxy). Its networks are
# removed before it stops. One rule is added, and removed on stop: the main dockerd's FORWARD
# policy is DROP and bridged traffic passes through iptables here (br_netfilter), which would
# drop traffic between this daemon's containers, so its own range is accepted in DOCKER-USER
# (the chain dockerd keeps for its users' rules; it matches nothing of the main engines').
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DATA=/var/lib/devarch-remote-docker
EXEC=/run/devarch-remote-docker
PIDFILE=/run/devarch-remote-dockerd.pid
SOCK=/run/devarch-remote-docker.sock
TCP=127.0.0.1:23750
LOG=/var/log/devarch-remote-dockerd.log
BRIDGE=devarch-rbr0
BRIDGE_ADDR=10.203.255.1/24
POOL=base=10.203.0.0/17,size=24
RANGE=10.203.0.0/16
FORWARD_RULE=(-s "$RANGE" -d "$RANGE" -m comment --comment devarch-remote-engine -j ACCEPT)
SSH_DIR=/var/lib/devarch-remote-ssh
SSH_PORT=2222
SSH_PIDFILE=/run/devarch-remote-sshd.pid
IMAGES=(devarch-fixture/busybox:1 devarch-fixture/router:1)

log() { printf '[remote-engine] %s\n' "$*"; }
die() {
  printf '[remote-engine] ERROR: %s\n' "$*" >&2
  exit 1
}
rdocker() { command docker -H "unix://$SOCK" "$@"; }
answers() { [[ -S $SOCK ]] && [[ $(curl -fsS -m 3 --unix-socket "$SOCK" http://d/_ping 2>/dev/null) == OK ]]; }
running() { [[ -f $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

cmd_env() {
  cat <<EOF
export DEVARCH_TEST_REMOTE_TCP=tcp://$TCP
export DEVARCH_TEST_REMOTE_SSH=ssh://root@127.0.0.1:$SSH_PORT$SOCK
export DEVARCH_TEST_REMOTE_SSH_COMMAND="ssh -i $SSH_DIR/client -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR"
EOF
}

start_dockerd() {
  if iptables -S DOCKER-USER >/dev/null 2>&1 && ! iptables -C DOCKER-USER "${FORWARD_RULE[@]}" 2>/dev/null; then
    iptables -I DOCKER-USER "${FORWARD_RULE[@]}"
  fi
  if answers; then
    log "dockerd answering on $SOCK and tcp://$TCP"
    return
  fi
  if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
    ip link add "$BRIDGE" type bridge
    ip addr add "$BRIDGE_ADDR" dev "$BRIDGE"
    ip link set "$BRIDGE" up
  fi
  mkdir -p "$DATA" "$EXEC"
  # dockerd 20.10, started with --default-address-pool and finding its "bridge" network from an
  # earlier run in its network store, deletes the interface docker0, whatever its own --bridge
  # is (daemon_unix.go, removeDefaultBridgeInterface): the MAIN engine's bridge. Seen here on
  # the second start. Its network store is dropped before every start, so it never finds one.
  rm -f "$DATA/network/files/local-kv.db"
  log "starting the test-only dockerd (log: $LOG)"
  (cd / && exec setsid dockerd --data-root "$DATA" --exec-root "$EXEC" --pidfile "$PIDFILE" \
    -H "unix://$SOCK" -H "tcp://$TCP" --bridge "$BRIDGE" --default-address-pool "$POOL" \
    --iptables=false --ip-masq=false >>"$LOG" 2>&1 </dev/null 9>&-) &
  for _ in $(seq 1 120); do
    answers && break
    sleep 0.5
  done
  answers || die "the test-only dockerd did not answer within 60 s; see $LOG"
  log "dockerd ready ($(rdocker version --format '{{.Server.Version}}'))"
}

load_images() {
  local image
  for image in "${IMAGES[@]}"; do
    if [[ $(rdocker image inspect --format '{{.Id}}' "$image" 2>/dev/null) == \
      "$(command docker image inspect --format '{{.Id}}' "$image")" ]]; then
      continue
    fi
    log "copying $image from the main Docker"
    command docker save "$image" | rdocker load >/dev/null
  done
}

start_sshd() {
  command -v sshd >/dev/null || [[ -x /usr/sbin/sshd ]] || {
    log "installing openssh-server"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends openssh-server >/dev/null ||
      { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends openssh-server >/dev/null; }
  }
  if running "$SSH_PIDFILE"; then
    log "sshd running on 127.0.0.1:$SSH_PORT"
    return
  fi
  mkdir -p "$SSH_DIR" /run/sshd
  chmod 700 "$SSH_DIR"
  [[ -f $SSH_DIR/host ]] || ssh-keygen -q -t ed25519 -N '' -f "$SSH_DIR/host"
  [[ -f $SSH_DIR/client ]] || ssh-keygen -q -t ed25519 -N '' -f "$SSH_DIR/client"
  cp "$SSH_DIR/client.pub" "$SSH_DIR/authorized_keys"
  /usr/sbin/sshd -f /dev/null -p "$SSH_PORT" -o ListenAddress=127.0.0.1 \
    -o HostKey="$SSH_DIR/host" -o AuthorizedKeysFile="$SSH_DIR/authorized_keys" \
    -o PidFile="$SSH_PIDFILE" -o PermitRootLogin=prohibit-password -o StrictModes=no \
    -o PasswordAuthentication=no -o AllowStreamLocalForwarding=yes -o UsePAM=no
  for _ in $(seq 1 50); do
    running "$SSH_PIDFILE" && break
    sleep 0.1
  done
  running "$SSH_PIDFILE" || die "sshd did not start"
  log "sshd on 127.0.0.1:$SSH_PORT"
}

cmd_start() {
  [[ $(id -u) == 0 ]] || die "run as root"
  local had_docker0=no
  ip link show docker0 >/dev/null 2>&1 && had_docker0=yes
  start_dockerd
  if [[ $had_docker0 == yes ]] && ! ip link show docker0 >/dev/null 2>&1; then
    die "starting the test-only dockerd removed the main engine's docker0; restart the main dockerd (scripts/engines.sh stop docker; scripts/engines.sh start docker)"
  fi
  load_images
  start_sshd
}

cmd_stop() {
  if answers; then
    local ids
    ids=$(rdocker ps -aq)
    [[ -z $ids ]] || rdocker rm -f $ids >/dev/null
    rdocker network prune -f >/dev/null
    rdocker volume prune -f >/dev/null
  fi
  if running "$PIDFILE"; then
    local pid
    pid=$(cat "$PIDFILE")
    kill "$pid"
    for _ in $(seq 1 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
  fi
  ip link show "$BRIDGE" >/dev/null 2>&1 && ip link delete "$BRIDGE"
  while iptables -D DOCKER-USER "${FORWARD_RULE[@]}" 2>/dev/null; do :; done
  if running "$SSH_PIDFILE"; then
    kill "$(cat "$SSH_PIDFILE")"
  fi
  log "stopped"
}

cd "$ROOT"
case ${1:-} in
  start) cmd_start ;;
  stop) cmd_stop ;;
  env) cmd_env ;;
  *) die "usage: $0 start|stop|env" ;;
esac
