#!/usr/bin/env bash
# Start a single-node SLURM cluster on this machine (munge, slurmctld, slurmd)
# with fake GPUs, for the `slurm` tests. Needs root and Debian's slurm-wlm and
# munge (`apt-get install slurm-wlm munge`). Idempotent: exits 0 at once if the
# node is already up. Usage: bash tools/slurm_local.sh [GPUS]
set -euo pipefail
gpus=${1:-2}
host=$(hostname -s)

if sinfo -h -o %t 2>/dev/null | grep -qE '^(idle|mix|alloc)'; then
  exit 0
fi
for binary in munged slurmctld slurmd sbatch; do
  command -v "$binary" >/dev/null || { echo "slurm_local: $binary not found (apt-get install slurm-wlm munge)" >&2; exit 1; }
done

mkdir -p /etc/munge /var/lib/munge /var/log/munge /run/munge /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm
[ -f /etc/munge/munge.key ] || mungekey -c
chown -R munge: /etc/munge /var/lib/munge /var/log/munge /run/munge
chmod 0700 /etc/munge
pgrep -x munged >/dev/null || su -s /bin/sh munge -c /usr/sbin/munged

cpus=$(nproc)
memory=$(( $(awk '/MemTotal/ {print int($2/1024)}' /proc/meminfo) * 8 / 10 ))
cat > /etc/slurm/slurm.conf <<CONF
ClusterName=local
SlurmctldHost=${host}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
MinJobAge=600
ReturnToService=2
GresTypes=gpu
NodeName=${host} CPUs=${cpus} RealMemory=${memory} Gres=gpu:fake:${gpus} State=UNKNOWN
PartitionName=debug Nodes=${host} Default=YES MaxTime=INFINITE State=UP
CONF
# Fake GPUs of the type "fake" (so a job can ask for a GPU model: --gpus=fake:1):
# one device file each (a count-only line leaves the node INVAL).
{
  echo "AutoDetect=off"
  devices=(/dev/null /dev/zero /dev/full /dev/random /dev/urandom)
  for ((i = 0; i < gpus; i++)); do echo "NodeName=${host} Name=gpu Type=fake File=${devices[$i]}"; done
} > /etc/slurm/gres.conf

pgrep -x slurmctld >/dev/null || slurmctld
pgrep -x slurmd >/dev/null || slurmd
for _ in $(seq 1 30); do
  if sinfo -h -o %t 2>/dev/null | grep -qE '^(idle|mix|alloc)'; then
    echo "slurm_local: node ${host} up with ${cpus} CPUs, ${memory} MB and ${gpus} fake GPUs"
    exit 0
  fi
  sleep 1
done
echo "slurm_local: the node did not come up; see /var/log/slurm/" >&2
exit 1
