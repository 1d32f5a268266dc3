#!/usr/bin/env bash
# A real single-node SLURM cluster on this machine, to try `run_matrix.py --executor slurm` and to test it in CI.
#
#   bash scripts/slurm-local.sh install   # Debian packages: slurmctld slurmd slurmdbd slurm-client munge mariadb-server
#   bash scripts/slurm-local.sh start     # munge + MariaDB + slurmdbd + slurmctld + slurmd on 127.0.0.1, partition "debug"
#   bash scripts/slurm-local.sh status    # exit 0 when the cluster accepts jobs
#   bash scripts/slurm-local.sh stop      # cancels jobs, stops what `start` started (also after a failed start)
#
# Needs root and Debian 12 (or a derivative); works without systemd: every daemon runs in the foreground in its own
# session and `start` records its pid under $SLURM_LOCAL_DIR (default /var/tmp/depalm-slurm), which also holds the
# logs, the controller state and the accounting database (both kept across stop/start, so job ids stay unique).
# Accounting (slurmdbd) is not optional: without it `sacct` knows nothing and a client waiting on a cancelled job
# cannot learn its fate. Limits are low on purpose (MaxArraySize 4, MaxSubmitJobs 6 per user, enforced through an
# association in account "depalm"), so that a matrix of a few cells already goes in waves as on a shared cluster.
set -euo pipefail

R=${SLURM_LOCAL_DIR:-/var/tmp/depalm-slurm}
DB_PORT=${SLURM_LOCAL_DB_PORT:-13306}     # not 3306: leave a system MariaDB alone
CLUSTER=depalm
PARTITION=debug
CONF=/etc/slurm/slurm.conf
DBD_CONF=/etc/slurm/slurmdbd.conf
MARK="# written by depalm-bench scripts/slurm-local.sh"
PACKAGES=(munge slurmctld slurmd slurm-client slurmdbd mariadb-server)
DB_PASS=depalm-local
# Limits as a shared cluster sets them, low enough that the tests' matrices exceed them and must go in waves
MAX_ARRAY_SIZE=${SLURM_LOCAL_MAX_ARRAY_SIZE:-4}      # an array's indices are 0..MaxArraySize-1
MAX_SUBMIT_JOBS=${SLURM_LOCAL_MAX_SUBMIT_JOBS:-6}    # queued + running jobs (each array task counts) of one user
ACCOUNT=depalm

say() { echo "slurm-local: $*"; }
die() { echo "slurm-local: error: $*" >&2; exit 1; }

wait_for() {  # wait_for SECONDS CMD...: poll CMD until it succeeds
  local end=$((SECONDS + $1)); shift
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < end)) || return 1
    sleep 0.25
  done
}

alive() { local s; s=$(ps -o stat= -p "$1" 2>/dev/null) && [[ $s != Z* ]]; }
# a pid file left by an earlier boot may name an unrelated process now: check the command name too
declare -A COMMAND=([munged]=munged [db]=mariadbd [slurmdbd]=slurmdbd [slurmctld]=slurmctld [slurmd]=slurmd)
pid_alive() {
  local pid
  [ -s "$R/$1.pid" ] && pid=$(cat "$R/$1.pid") && alive "$pid" && [ "$(ps -o comm= -p "$pid")" = "${COMMAND[$1]}" ]
}

wait_up() {  # wait_up NAME SECONDS CMD...: like wait_for, but gives up as soon as daemon NAME has exited
  local name=$1 end=$((SECONDS + $2)); shift 2
  until "$@" >/dev/null 2>&1; do
    pid_alive "$name" || fail_start "$name" "$name exited during start"
    ((SECONDS < end)) || return 1
    sleep 0.25
  done
}

need_root() { [ "$(id -u)" = 0 ] || die "run as root (it installs packages, writes /etc/slurm and starts daemons)"; }

missing_packages() {
  local p
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || echo "$p"
  done
}

# Runs a daemon in the foreground, detached in its own session, and records its pid.
launch() {  # launch NAME CMD...
  local name=$1; shift
  setsid "$@" </dev/null >>"$R/log/$name.out" 2>&1 &
  echo $! >"$R/$name.pid"
}

fail_start() {  # fail_start LOGNAME MESSAGE: shows why, and leaves the pieces for `stop`
  echo "slurm-local: error: $2" >&2
  local f
  for f in "$R/log/$1".*; do
    [ -s "$f" ] || continue
    echo "---- last lines of $f" >&2
    tail -n 15 "$f" >&2
  done
  echo "slurm-local: fix the cause above, then run: bash $0 stop && bash $0 start" >&2
  exit 1
}

db() { mariadb --no-defaults -uroot --socket="$R/db.sock" "$@"; }

own_config_or_die() {
  local f
  for f in "$CONF" "$DBD_CONF"; do
    if [ -e "$f" ] && ! head -1 "$f" | grep -qF "$MARK"; then
      die "$f exists and was not written by this script; it looks like a real SLURM configuration, so it is left" \
        "alone. Move it away to use the local test cluster."
    fi
  done
}

write_configs() {
  local host; host=$(hostname -s)
  # slurmd -C describes this machine's CPUs and memory in slurm.conf syntax
  local node; node=$(slurmd -C | head -1 | cut -d' ' -f2-)
  mkdir -p /etc/slurm
  cat >"$DBD_CONF" <<EOF
$MARK
AuthType=auth/munge
DbdHost=$host
DbdAddr=127.0.0.1
SlurmUser=root
LogFile=$R/log/slurmdbd.log
PidFile=$R/slurmdbd.daemon.pid
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=$DB_PASS
StorageLoc=slurm_acct_db
EOF
  chmod 600 "$DBD_CONF"   # slurmdbd refuses a world-readable file (it holds the DB password)
  cat >"$CONF" <<EOF
$MARK
ClusterName=$CLUSTER
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
AuthType=auth/munge
# a requeued job (preemption, timeout) waits cred_expire seconds before it may start again: 120 by default
AuthInfo=cred_expire=10
StateSaveLocation=$R/state
SlurmdSpoolDir=$R/spool
SlurmctldPidFile=$R/slurmctld.daemon.pid
SlurmdPidFile=$R/slurmd.daemon.pid
SlurmctldLogFile=$R/log/slurmctld.log
SlurmdLogFile=$R/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
# enforce the per-user association limits (MaxSubmitJobs), as clusters that set them do
AccountingStorageEnforce=associations,limits
MaxArraySize=$MAX_ARRAY_SIZE
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
# submitit's jobs ignore SIGTERM; don't wait the default 30 s before SIGKILL on cancel
KillWait=5
NodeName=$host NodeAddr=127.0.0.1 $node
PartitionName=$PARTITION Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
}

cluster_up() { pid_alive slurmctld && pid_alive slurmd && scontrol ping 2>/dev/null | grep -q UP; }
node_ready() { sinfo -h -N -o %T | grep -Eq '^(idle|mixed|allocated)'; }
registered() { sacctmgr -n -P list cluster format=cluster,controlhost | grep -q "^$CLUSTER|."; }

# With limits enforced a user needs an association to submit: account $ACCOUNT, this user in it, MaxSubmitJobs set.
add_association() {
  local user; user=$(id -un)
  sacctmgr -i -Q add account "$ACCOUNT" Cluster="$CLUSTER" Description=depalm-bench >/dev/null 2>&1 || true
  sacctmgr -i -Q add user "$user" Account="$ACCOUNT" Cluster="$CLUSTER" >/dev/null 2>&1 || true
  sacctmgr -i -Q modify user where name="$user" cluster="$CLUSTER" set MaxSubmitJobs="$MAX_SUBMIT_JOBS" >/dev/null 2>&1 || true
  wait_up slurmctld 30 has_limit "$user" ||
    fail_start slurmctld "the association of $user (account $ACCOUNT, MaxSubmitJobs=$MAX_SUBMIT_JOBS) did not appear"
}
has_limit() { sacctmgr -n -P show assoc where user="$1" cluster="$CLUSTER" format=MaxSubmit | grep -qx "$MAX_SUBMIT_JOBS"; }

cmd_install() {
  need_root
  local missing; missing=$(missing_packages)
  if [ -z "$missing" ]; then
    say "already installed: ${PACKAGES[*]}"
    return 0
  fi
  command -v apt-get >/dev/null || die "apt-get not found: this script supports Debian 12 and derivatives"
  say "installing $(echo $missing | tr '\n' ' ')(apt-get, ~30 s)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends $missing >/dev/null
  say "installed; next: bash $0 start"
}

cmd_start() {
  need_root
  [ -z "$(missing_packages)" ] || die "SLURM packages missing; run first: bash $0 install"
  own_config_or_die
  if cluster_up && node_ready; then
    say "already running (cluster $CLUSTER, partition $PARTITION); state in $R"
    return 0
  fi
  cmd_stop >/dev/null 2>&1 || true   # whatever a failed start left behind
  mkdir -p "$R"/{state,spool,log}
  rm -f "$R"/log/*.out

  if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    say "munge: reusing the running munged"
  else
    [ -s /etc/munge/munge.key ] || runuser -u munge -- mungekey -c
    install -d -o munge -g munge -m 755 /run/munge   # systemd would create it
    launch munged setpriv --reuid=munge --regid=munge --init-groups munged -F
    wait_up munged 10 sh -c 'munge -n | unmunge' || fail_start munged "munged did not start"
  fi

  if [ ! -d "$R/db/mysql" ]; then
    rm -rf "$R/db"
    mariadb-install-db --no-defaults --user=root --datadir="$R/db" --skip-test-db >"$R/log/db-init.log" 2>&1 ||
      fail_start db-init "mariadb-install-db failed"
  fi
  launch db mariadbd --no-defaults --user=root --datadir="$R/db" --socket="$R/db.sock" --pid-file="$R/db.daemon.pid" \
    --bind-address=127.0.0.1 --port="$DB_PORT" --skip-log-bin --log-error="$R/log/db.err"
  wait_up db 60 mariadb-admin --no-defaults -uroot --socket="$R/db.sock" ping ||
    fail_start db "MariaDB did not answer on $R/db.sock (is port $DB_PORT taken? set SLURM_LOCAL_DB_PORT)"
  db -e "CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY '$DB_PASS';
         GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';" || fail_start db "cannot create the slurm DB user"

  write_configs
  launch slurmdbd slurmdbd -D
  wait_up slurmdbd 60 sacctmgr -n list cluster || fail_start slurmdbd "slurmdbd did not answer"
  launch slurmctld slurmctld -D
  launch slurmd slurmd -D
  wait_up slurmd 60 node_ready || fail_start slurmd "node $(hostname -s) did not become idle"
  wait_up slurmctld 30 registered || fail_start slurmctld "slurmctld did not register cluster $CLUSTER with slurmdbd"
  add_association
  timeout 60 srun -t 1 true || fail_start slurmd "a trivial job (srun true) failed"
  say "running: cluster $CLUSTER, partition $PARTITION, $(sinfo -h -o '%c CPUs, %m MB') on $(hostname -s)"
  say "limits: MaxArraySize=$MAX_ARRAY_SIZE, MaxSubmitJobs=$MAX_SUBMIT_JOBS per user (SLURM_LOCAL_MAX_ARRAY_SIZE, SLURM_LOCAL_MAX_SUBMIT_JOBS)"
  say "no GPUs are configured: try it with: python run_matrix.py --executor slurm --gpus-per-node 0 ..."
  say "logs and state in $R; stop with: bash $0 stop"
}

stop_daemon() {  # TERM, then KILL after 20 s
  local name=$1 pid
  [ -s "$R/$name.pid" ] || return 0
  pid=$(cat "$R/$name.pid")
  if pid_alive "$name"; then
    kill "$pid" 2>/dev/null || true
    wait_for 20 eval "! alive $pid" || { say "$name ($pid) ignored SIGTERM; killing it"; kill -9 "$pid" 2>/dev/null || true; }
    say "stopped $name ($pid)"
  fi
  rm -f "$R/$name.pid"
}

cmd_stop() {
  need_root
  if pid_alive slurmctld && command -v squeue >/dev/null; then
    local jobs; jobs=$(squeue -h -o %A 2>/dev/null || true)
    if [ -n "$jobs" ]; then
      say "cancelling $(echo $jobs | wc -w) job(s)"
      echo "$jobs" | xargs -r scancel || true
      wait_for 30 sh -c '[ -z "$(squeue -h)" ]' || say "some jobs are still listed; stopping anyway"
    fi
  fi
  local d
  for d in slurmd slurmctld slurmdbd db munged; do stop_daemon "$d"; done
  say "stopped (state kept in $R)"
}

cmd_status() {
  local d rc=0
  for d in munged db slurmdbd slurmctld slurmd; do
    if pid_alive "$d"; then
      say "$d: running (pid $(cat "$R/$d.pid"))"
    elif [ "$d" = munged ] && munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
      say "munged: running (not started by this script)"
    else
      say "$d: not running"; rc=1
    fi
  done
  if ((rc == 0)) && cluster_up && node_ready; then
    sinfo
    squeue
  else
    say "not up; start it with: bash $0 install && bash $0 start"
    rc=1
  fi
  return $rc
}

case ${1:-} in
  install) cmd_install ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  *) echo "usage: $0 install|start|stop|status" >&2; exit 2 ;;
esac
