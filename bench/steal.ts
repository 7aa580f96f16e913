/**
 * CPU time the hypervisor gave to other guests ("steal", /proc/stat), as a share of the machine's
 * CPU time since the last reading. A shared virtual machine can lose a quarter of its CPU this way
 * for minutes (seen: 18–26 % in one session), which makes runs on the same code differ by 2×;
 * recorded with every run so such runs can be recognised. Null where /proc/stat is not readable.
 */
import { readMachine } from './cpu-account.ts';

export class StealMeter {
  private last = readMachine();

  /** Steal % since the previous call (or since construction). */
  sample(): number | null {
    const now = readMachine();
    const last = this.last;
    this.last = now;
    if (now === null || last === null || now.total <= last.total) return null;
    return Math.round(((now.steal - last.steal) / (now.total - last.total)) * 1000) / 10;
  }
}
