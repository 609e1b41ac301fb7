import { FloodgateError } from '../errors.js';

/**
 * The capacity arithmetic of DESIGN.md ("Capacity model"), pure so `plan`, `doctor` and the tests
 * share it. It mirrors the gateway's cap (src/server/capacity.ts):
 *   perInstance = min(floor((memory − overhead) / bytesPerConnection), fdLimit − reservedFds)
 */
export interface InstanceInputs {
  memoryPerInstance: number;
  overhead: number;
  bytesPerConnection: number;
  /** Hard RLIMIT_NOFILE of the server process; undefined = not a limit. */
  fdLimit?: number;
  reservedFds: number;
}

export interface InstanceCapacity {
  perInstance: number;
  memoryCap: number;
  /** Infinity when no fd limit was given. */
  fdCap: number;
  limitedBy: 'memory' | 'fds';
}

export function instanceCapacity(i: InstanceInputs): InstanceCapacity {
  const memoryCap = Math.max(0, Math.floor((i.memoryPerInstance - i.overhead) / i.bytesPerConnection));
  const fdCap = i.fdLimit === undefined ? Number.POSITIVE_INFINITY : Math.max(0, i.fdLimit - i.reservedFds);
  return { perInstance: Math.min(memoryCap, fdCap), memoryCap, fdCap, limitedBy: memoryCap <= fdCap ? 'memory' : 'fds' };
}

export interface PlanInputs extends InstanceInputs {
  users: number;
  /** Fraction of users connected at once on an ordinary day (0.05 = 5%). */
  activeRatio: number;
  /** Multiplier for the busiest moment (1 = none). */
  peakFactor: number;
  /** Spare capacity wanted on top of the peak (0.2 = 20%); instances are added until it is met. */
  headroom: number;
}

export interface Plan {
  inputs: PlanInputs;
  concurrent: number;
  peakConcurrent: number;
  /** peak × (1 + wanted headroom), what the fleet must hold. */
  required: number;
  instance: InstanceCapacity;
  instances: number;
  capacity: number;
  /** capacity / peakConcurrent − 1: the spare capacity the plan actually leaves. */
  headroom: number;
}

function check(field: string, value: number, min: number, max: number): void {
  if (!Number.isFinite(value) || value < min || value > max) {
    throw new FloodgateError('FG_ERR_INVALID_CONFIG', `\`${field}\` must be a number from ${min} to ${max}, got \`${value}\`.`, { field, value });
  }
}

export function planCapacity(inputs: PlanInputs): Plan {
  check('users', inputs.users, 0, 1e12);
  check('activeRatio', inputs.activeRatio, 0, 1);
  check('peakFactor', inputs.peakFactor, 1, 1000);
  check('headroom', inputs.headroom, 0, 100);
  check('bytesPerConnection', inputs.bytesPerConnection, 1, 1e12);
  check('memoryPerInstance', inputs.memoryPerInstance, 1, 1e15);
  check('overhead', inputs.overhead, 0, 1e15);
  const concurrent = Math.ceil(inputs.users * inputs.activeRatio);
  const peakConcurrent = Math.ceil(concurrent * inputs.peakFactor);
  const required = Math.ceil(peakConcurrent * (1 + inputs.headroom));
  const instance = instanceCapacity(inputs);
  if (instance.perInstance <= 0) {
    throw new FloodgateError(
      'FG_ERR_CAPACITY',
      `One instance holds 0 connections: memory ${inputs.memoryPerInstance} B − overhead ${inputs.overhead} B leaves room for ${instance.memoryCap} connections of ${inputs.bytesPerConnection} B and fds for ${instance.fdCap}. Raise memoryPerInstance or lower overhead or bytesPerConnection.`,
      { memoryCap: instance.memoryCap, fdCap: instance.fdCap },
    );
  }
  const instances = Math.max(1, Math.ceil(required / instance.perInstance));
  const capacity = instances * instance.perInstance;
  const headroom = peakConcurrent === 0 ? Number.POSITIVE_INFINITY : capacity / peakConcurrent - 1;
  return { inputs, concurrent, peakConcurrent, required, instance, instances, capacity, headroom };
}
