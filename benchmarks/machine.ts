/** The machine the figures were taken on, for the table header and BENCHMARKS.md. */
import { cpus, release, totalmem, type } from 'node:os';
import { type EtcdFacts, etcdFacts } from './etcd.js';

/** MachineFacts: enough to tell whether two BENCHMARKS.md files are comparable. */
export interface MachineFacts {
  cpu: string;
  cores: number;
  memoryGiB: number;
  os: string;
  node: string;
  etcd: EtcdFacts;
  /** date is when the run started, ISO in UTC. */
  date: string;
}

/** machineFacts reads the CPU, memory, OS, Node and etcd versions. */
export function machineFacts(): MachineFacts {
  const list = cpus();
  return {
    cpu: list[0]?.model.trim() || 'unknown CPU',
    cores: list.length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    os: `${type()} ${release()}`,
    node: process.versions.node,
    etcd: etcdFacts(),
    date: new Date().toISOString(),
  };
}
