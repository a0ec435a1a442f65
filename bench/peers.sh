#!/usr/bin/env bash
# megacity against the tools operators already use, on one fleet of network-namespace test hosts
# (tests/fleet/fleet.sh; root only). A benchmark, not a test: it reports, it does not fail.
#
#   usage: bench/peers.sh [N...]        default: 10 50 100
#   needs: hyperfine, pssh (parallel-ssh), python3 -m venv (Ansible is installed from PyPI into a
#          throwaway virtualenv), /usr/bin/time, openssh-server, iproute2
# Writes a markdown report to stdout (and docs/benchmarks.md when BENCH_WRITE=1).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
sizes=("$@"); [ ${#sizes[@]} -gt 0 ] || sizes=(10 50 100)
runs=${BENCH_RUNS:-5}
for p in hyperfine parallel-ssh /usr/bin/time python3; do
  command -v "$p" >/dev/null || { echo "$p is missing: apt-get install -y hyperfine pssh time python3-venv" >&2; exit 1; }
done
cargo build --release --quiet
bin="$root/target/release/megacity"
work=$(mktemp -d /tmp/mcbench.XXXX)
fleet="$work/fleet"
# The report survives a failure half-way: it is copied out before the scratch space goes.
cleanup() { "$root/tests/fleet/fleet.sh" down "$fleet" >/dev/null 2>&1 || true; cp "$work/report.md" /tmp/megacity-peers-report.md 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

venv="${ANSIBLE_VENV:-$work/ansible}"
if [ ! -x "$venv/bin/ansible" ]; then
  python3 -m venv "$venv" && "$venv/bin/pip" install -q ansible-core >&2
fi
export ANSIBLE_HOST_KEY_CHECKING=True ANSIBLE_STDOUT_CALLBACK=default ANSIBLE_LOAD_CALLBACK_PLUGINS=0
export ANSIBLE_LOCALHOST_WARNING=False ANSIBLE_PYTHON_INTERPRETER=/usr/bin/python3

median() { python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"]; print("\n".join("%s\t%.3f" % (x["command"], x["median"]) for x in r))' "$1"; }

report="$work/report.md"
{
  echo "# Benchmarks: megacity and its peers"
  echo
  echo "Machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -sr), $(ssh -V 2>&1 | cut -d, -f1),"
  echo "$("$venv/bin/ansible" --version | head -1), $(parallel-ssh --version 2>&1 | head -1), $(date -u +%Y-%m-%d)."
  echo "Every host is a network namespace on this machine with its own sshd (tests/fleet/fleet.sh)."
  echo "Medians of $runs runs (hyperfine). Reproduce: \`sudo bench/peers.sh ${sizes[*]}\`."
  echo "How to read them against the aims: the README, \"Against the peers\"."
  echo
} > "$report"

fanout_rows=()
mem_rows=()
biggest=0
for n in "${sizes[@]}"; do
  "$root/tests/fleet/fleet.sh" down "$fleet" >/dev/null 2>&1 || true
  rm -rf "$fleet"; mkdir -p "$fleet"
  names=(); for i in $(seq -w 1 "$n"); do names+=("h$i"); done
  "$root/tests/fleet/fleet.sh" up "$fleet" 250 "${names[@]}" >&2
  biggest=$n
  cfg="$fleet/ssh_config"
  printf '%s\n' "${names[@]}" > "$work/hosts.txt"
  { echo "hosts:"; for h in "${names[@]}"; do printf '  - name: %s\n    groups: [fleet]\n' "$h"; done; } > "$work/inventory.yaml"
  mkdir -p "$work/runbooks"
  printf 'id: fanout\ntitle: one check everywhere\nseverity: P4\nsteps:\n  - id: up\n    title: up\n    targets: [fleet]\n    check: {command: "true", expect: {exit_code: 0}}\n' > "$work/runbooks/fanout.yaml"
  { echo "[fleet]"; printf '%s\n' "${names[@]}"; } > "$work/ansible.ini"
  export MEGACITY_INVENTORY="$work/inventory.yaml" MEGACITY_RUNBOOKS="$work/runbooks" MEGACITY_JOURNAL_DIR="$work/journal"
  export ANSIBLE_SSH_ARGS="-F $cfg -o ControlMaster=auto -o ControlPersist=60s"
  cp_dir="$work/cp"
  export ANSIBLE_SSH_CONTROL_PATH_DIR="$cp_dir"
  hyperfine --style basic --runs "$runs" --warmup 1 -N --export-json "$work/fanout-$n.json" \
    --prepare "sh -c 'for s in $cp_dir/*; do [ -S \"\$s\" ] && ssh -o ControlPath=\"\$s\" -O exit x 2>/dev/null; done; rm -rf $cp_dir'" \
    -n "megacity" "$bin runbook run fanout --yes --concurrency $n --ssh-config $cfg" \
    -n "parallel-ssh" "parallel-ssh -x '-F $cfg' -h $work/hosts.txt -p $n -t 60 true" \
    -n "ansible -m raw (cold)" "$venv/bin/ansible fleet -i $work/ansible.ini -m raw -a true -f $n" \
    >&2
  # Warm: Ansible's ControlPersist masters from the previous run are kept.
  hyperfine --style basic --runs "$runs" --warmup 1 -N --export-json "$work/warm-$n.json" \
    -n "ansible -m raw (warm masters)" "$venv/bin/ansible fleet -i $work/ansible.ini -m raw -a true -f $n" >&2
  # Second fan-out of an incident: megacity on masters kept by the previous run, against the
  # floor of plain ssh over ControlMasters that are already open.
  export XDG_RUNTIME_DIR="$work/rt"; mkdir -p -m 700 "$XDG_RUNTIME_DIR"
  "$bin" runbook run fanout --yes --concurrency "$n" --ssh-config "$cfg" --keep-connections=10m >/dev/null 2>&1
  mkdir -p "$work/om"
  for h in "${names[@]}"; do ssh -F "$cfg" -o ControlMaster=yes -o ControlPersist=10m -S "$work/om/$h" -f -N "$h"; done
  cat > "$work/open-floor.sh" <<FLOOR
#!/usr/bin/env bash
for h in \$(cat $work/hosts.txt); do ssh -F $cfg -S $work/om/\$h \$h true </dev/null >/dev/null & done
wait
FLOOR
  chmod +x "$work/open-floor.sh"
  hyperfine --style basic --runs "$runs" --warmup 1 -N --export-json "$work/kept-$n.json" \
    -n "megacity --keep-connections (second fan-out)" "$bin runbook run fanout --yes --concurrency $n --ssh-config $cfg --keep-connections" \
    -n "plain ssh over open ControlMasters (floor)" "$work/open-floor.sh" >&2
  "$bin" connections close >/dev/null 2>&1
  for h in "${names[@]}"; do ssh -F "$cfg" -S "$work/om/$h" -O exit "$h" 2>/dev/null || true; done
  unset XDG_RUNTIME_DIR
  # megacity's own peak memory on one cold fan-out (the ssh processes are the system's).
  /usr/bin/time -o "$work/mem.txt" -f '%M' "$bin" runbook run fanout --yes --concurrency "$n" --ssh-config "$cfg" >/dev/null 2>&1 || true
  mem_rows+=("| $n | $(awk '{printf "%.1f", $1/1024}' "$work/mem.txt") |")
  if [ "$n" -le 50 ]; then
    hyperfine --style basic --runs 3 -N --export-json "$work/serial-$n.json" \
      -n "serial ssh loop" "sh -c 'for h in \$(cat $work/hosts.txt); do ssh -F $cfg \$h true; done'" >&2
  fi
  for f in "$work/fanout-$n.json" "$work/warm-$n.json" "$work/kept-$n.json" "$work/serial-$n.json"; do
    [ -f "$f" ] || continue
    while IFS=$'\t' read -r name secs; do fanout_rows+=("| $n | $name | $secs |"); done < <(median "$f")
  done
done

{
  echo "## One check on every host (cold unless noted)"
  echo
  echo "| hosts | tool | median s |"
  echo "|---:|---|---:|"
  printf '%s\n' "${fanout_rows[@]}"
  echo
  echo "megacity's peak memory (RSS) during one cold fan-out:"
  echo
  echo "| hosts | peak MiB |"
  echo "|---:|---:|"
  printf '%s\n' "${mem_rows[@]}"
  echo
} >> "$report"

# A 10-step runbook on 5 hosts: megacity, ansible-playbook (pipelining), plain ssh + ControlMaster.
five=("${names[@]:0:5}")
[ "$biggest" -ge 5 ] || { echo "need at least 5 hosts" >&2; exit 1; }
{ echo "hosts:"; for h in "${five[@]}"; do printf '  - name: %s\n    groups: [five]\n' "$h"; done; } > "$work/inv5.yaml"
{ printf 'id: ten\ntitle: ten steps\nseverity: P4\nsteps:\n'; for i in $(seq 1 10); do printf '  - id: s%s\n    title: step %s\n    targets: [five]\n    check: {command: "echo step %s", expect: {exit_code: 0}}\n' "$i" "$i" "$i"; done; } > "$work/runbooks/ten.yaml"
{ echo "[five]"; printf '%s\n' "${five[@]}"; } > "$work/ansible5.ini"
{ echo "- hosts: five"; echo "  gather_facts: false"; echo "  tasks:"; for i in $(seq 1 10); do printf '    - name: step %s\n      ansible.builtin.shell: echo step %s\n' "$i" "$i"; done; } > "$work/ten.yml"
cat > "$work/floor.sh" <<FLOOR
#!/usr/bin/env bash
opts=(-F $cfg -o ControlMaster=auto -o ControlPath=$work/fcm-%h -o ControlPersist=60)
for i in \$(seq 1 10); do
  for h in ${five[*]}; do ssh "\${opts[@]}" "\$h" "echo step \$i" </dev/null >/dev/null & done
  wait
done
for h in ${five[*]}; do ssh "\${opts[@]}" -O exit "\$h" 2>/dev/null || true; done
FLOOR
chmod +x "$work/floor.sh"
export MEGACITY_INVENTORY="$work/inv5.yaml" ANSIBLE_PIPELINING=True
hyperfine --style basic --runs "$runs" --warmup 1 -N --export-json "$work/ten.json" \
  --prepare "sh -c 'for s in $cp_dir/*; do [ -S \"\$s\" ] && ssh -o ControlPath=\"\$s\" -O exit x 2>/dev/null; done; rm -rf $cp_dir'" \
  -n "megacity runbook run (10 steps x 5 hosts)" "$bin runbook run ten --yes --ssh-config $cfg" \
  -n "ansible-playbook, pipelining" "$venv/bin/ansible-playbook -i $work/ansible5.ini $work/ten.yml -f 5" \
  -n "plain ssh, ControlMaster from step 1 (floor)" "$work/floor.sh" >&2
{
  echo "## A 10-step runbook on 5 hosts"
  echo
  echo "| tool | median s |"
  echo "|---|---:|"
  median "$work/ten.json" | while IFS=$'\t' read -r name secs; do echo "| $name | $secs |"; done
  echo
} >> "$report"

# Start-up, completion and a dry-run plan over 1,000 hosts: wall time and peak memory.
{ echo "hosts:"; for i in $(seq -w 1 1000); do printf '  - name: k%s\n    groups: [thousand]\n' "$i"; done; } > "$work/inv1000.yaml"
printf 'id: wide\ntitle: wide\nseverity: P4\nsteps:\n  - id: look\n    title: look\n    targets: [thousand]\n    check: {command: "uptime", expect: {exit_code: 0}}\n  - id: fix\n    title: fix\n    targets: [thousand]\n    action: {command: "true"}\n' > "$work/runbooks/wide.yaml"
measure() {
  local name=$1; shift
  /usr/bin/time -o "$work/time.txt" -f '%e %M' "$@" >/dev/null 2>&1 || true
  local out; out=$(tail -1 "$work/time.txt")
  echo "| $name | $(echo "$out" | awk '{printf "%.3f", $1}') | $(echo "$out" | awk '{printf "%.1f", $2/1024}') |"
}
unset MEGACITY_RUNBOOKS
{
  echo "## Start-up and plans"
  echo
  echo "| command | wall s | peak MiB |"
  echo "|---|---:|---:|"
  MEGACITY_INVENTORY= measure "runbook list (embedded)" "$bin" runbook list
  MEGACITY_INVENTORY= measure "one completion request" env COMPLETE=fish "$bin" -- megacity runbook show red
  MEGACITY_INVENTORY="$work/inv1000.yaml" MEGACITY_RUNBOOKS="$work/runbooks" measure "dry-run plan, 2 steps x 1,000 hosts" "$bin" runbook run wide --dry-run --yes
  MEGACITY_INVENTORY="$work/inv1000.yaml" MEGACITY_RUNBOOKS="$work/runbooks" measure "dry-run plan, 2 steps x 100 hosts (--host 100)" "$bin" runbook run wide --dry-run --yes $(for i in $(seq -w 1 100); do printf -- '--host k0%s ' "$i"; done)
  echo
} >> "$report"

cat "$report"
if [ "${BENCH_WRITE:-0}" = 1 ]; then cp "$report" "$root/docs/benchmarks.md"; fi
