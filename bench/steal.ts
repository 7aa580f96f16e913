/**
 * CPU time the hypervisor gave to other guests ("steal", /proc/stat), as a share of the machine's
 * CPU time since the last reading. A shared virtual machine can lose a quarter of its CPU this way
 * for minutes (seen: 18–26 % in one session), which makes runs on the same code differ by 2×;
 * recorded with every run so such runs can be recognised. Null where /proc/stat is not readable.
 */
import { readFileSync } from 'node:fs';

export class StealMeter {
  private last: { steal: number; total: number } | null = read();

  /** Steal % since the previous call (or since construction). */
  sample(): number | null {
    const now = read();
    const last = this.last;
    this.last = now;
    if (now === null || last === null || now.total <= last.total) return null;
    return Math.round(((now.steal - last.steal) / (now.total - last.total)) * 1000) / 10;
  }
}

/** The aggregate `cpu` line: user nice system idle iowait irq softirq steal (guest time is inside user). */
function read(): { steal: number; total: number } | null {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0];
    const f = line.trim().split(/\s+/).slice(1, 9).map(Number);
    if (f.length < 8 || f.some((v) => !Number.isFinite(v))) return null;
    return { steal: f[7], total: f.reduce((a, v) => a + v, 0) };
  } catch {
    return null;
  }
}
