#!/usr/bin/env bash
# A 10-step runbook on 5 host names, megacity vs the same commands through plain `ssh` with a
# ControlMaster opened by step 1 (the floor for any OpenSSH-based tool). One real sshd on
# loopback stands in for the five hosts. A benchmark, not a test.
#   usage: bench/runbook.sh   (needs hyperfine and openssh-server)
set -euo pipefail
cd "$(dirname "$0")/.."
for p in hyperfine /usr/sbin/sshd ssh-keygen; do
  command -v "$p" >/dev/null || { echo "$p is missing: apt-get install -y hyperfine openssh-server" >&2; exit 1; }
done
cargo build --release --quiet
bin="$PWD/target/release/megacity"
d=$(mktemp -d /tmp/mcb.XXXX)
cleanup() { [ -f "$d/sshd.pid" ] && kill "$(cat "$d/sshd.pid")" 2>/dev/null; rm -rf "$d"; }
trap cleanup EXIT
ssh-keygen -q -t ed25519 -N '' -f "$d/host_key"
ssh-keygen -q -t ed25519 -N '' -f "$d/client_key"
cp "$d/client_key.pub" "$d/authorized_keys"
mkdir -p /run/sshd
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$d/sshd_config" <<CONF
Port $port
ListenAddress 127.0.0.1
HostKey $d/host_key
PidFile $d/sshd.pid
AuthorizedKeysFile $d/authorized_keys
StrictModes no
UsePAM no
PermitRootLogin yes
MaxSessions 20
MaxStartups 100
CONF
/usr/sbin/sshd -f "$d/sshd_config"
echo "[127.0.0.1]:$port $(cut -d' ' -f1,2 "$d/host_key.pub")" > "$d/known_hosts"
hosts="b1 b2 b3 b4 b5"
{
  for h in $hosts; do
    printf 'Host %s\n  HostName 127.0.0.1\n  Port %s\n  User %s\n  IdentityFile %s\n  IdentitiesOnly yes\n  UserKnownHostsFile %s\n  BatchMode yes\n' \
      "$h" "$port" "$(id -un)" "$d/client_key" "$d/known_hosts"
  done
} > "$d/ssh_config"
mkdir -p "$d/runbooks"
{
  echo "hosts:"
  for h in $hosts; do printf '  - name: %s\n    groups: [bench]\n' "$h"; done
} > "$d/inventory.yaml"
{
  printf 'id: bench10\ntitle: ten steps\nseverity: P3\nsteps:\n'
  for i in $(seq 1 10); do
    printf '  - id: s%s\n    title: step %s\n    targets: [bench]\n    check: {command: "echo step %s", expect: {exit_code: 0}}\n' "$i" "$i" "$i"
  done
} > "$d/runbooks/bench10.yaml"

cat > "$d/floor.sh" <<'FLOOR'
#!/usr/bin/env bash
# The same ten steps with plain ssh: step 1 opens a ControlMaster per host, later steps reuse it.
d=$1; shift
opts=(-F "$d/ssh_config" -o ControlMaster=auto -o "ControlPath=$d/cm-%h" -o ControlPersist=60)
for i in $(seq 1 10); do
  for h in "$@"; do ssh "${opts[@]}" "$h" "echo step $i" </dev/null >/dev/null & done
  wait
done
for h in "$@"; do ssh "${opts[@]}" -O exit "$h" 2>/dev/null || true; done
FLOOR
chmod +x "$d/floor.sh"

export MEGACITY_INVENTORY="$d/inventory.yaml" XDG_CONFIG_HOME="$d/config"
hyperfine --warmup 2 --runs 15 -N --export-markdown "$d/runbook.md" \
  -n 'megacity runbook run (10 steps x 5 hosts)' \
  "$bin --runbooks $d/runbooks runbook run bench10 --yes --ssh-config $d/ssh_config" \
  -n 'plain ssh + ControlMaster (floor)' \
  "$d/floor.sh $d $hosts" >&2
cat "$d/runbook.md"
echo
echo "machine: $(nproc) cores, $(uname -sr), $(ssh -V 2>&1), $(date -u +%Y-%m-%d)"
