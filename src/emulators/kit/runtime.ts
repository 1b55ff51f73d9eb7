import type { Logger } from '../../log/logger.js';
import { Clock } from './clock.js';
import { Faults, type FaultConfig } from './faults.js';
import { Tasks } from './tasks.js';

/**
 * What every emulator starts with: its clock (time scale, system or manual), its fault configuration and the tracker
 * of its scheduled work, each reporting failures to the emulator's logger under its name.
 */
export function emulatorRuntime(opts: {
  name: string;
  logger: Logger;
  timeScale?: number;
  clockMode?: 'system' | 'manual';
  faults?: Partial<FaultConfig>;
}): { clock: Clock; faults: Faults; tasks: Tasks } {
  const clock = new Clock({
    timeScale: opts.timeScale ?? 1,
    mode: opts.clockMode ?? 'system',
    onError: (err) => opts.logger.error({ err }, `${opts.name}: scheduled job failed`),
  });
  const faults = new Faults(opts.faults);
  const tasks = new Tasks(clock, (err) => opts.logger.error({ err }, `${opts.name}: task failed`), opts.name);
  return { clock, faults, tasks };
}
