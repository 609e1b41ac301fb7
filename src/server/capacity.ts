import { FloodgateError } from '../errors.js';

export type CapOrigin = 'explicit' | 'memory' | 'fds';

export interface CapacityInputs {
  /** 0 = no explicit cap. */
  explicit: number;
  memoryLimit: number;
  memorySource: string;
  memoryOverhead: number;
  bytesPerConnection: number;
  /** Hard RLIMIT_NOFILE; undefined when unknown (non-Linux). */
  fdLimit: number | undefined;
  reservedFds: number;
}

export interface Capacity {
  maxConnections: number;
  origin: CapOrigin;
  memoryCap: number;
  fdCap: number;
  inputs: CapacityInputs;
  /** One line, as the seeds printed it: how the cap was computed. */
  explanation: string;
}

/**
 * maxConnections = min(explicit cap, floor((memoryLimit − overhead) / bytesPerConnection), fdLimit − reserved).
 * Each connection holds one fd; the reserve covers logs, the broker, DNS and the listening socket.
 */
export function computeCapacity(inputs: CapacityInputs): Capacity {
  const memoryCap = Math.max(0, Math.floor((inputs.memoryLimit - inputs.memoryOverhead) / inputs.bytesPerConnection));
  const fdCap = inputs.fdLimit === undefined ? Number.POSITIVE_INFINITY : Math.max(0, inputs.fdLimit - inputs.reservedFds);
  let maxConnections = Math.min(memoryCap, fdCap);
  let origin: CapOrigin = memoryCap <= fdCap ? 'memory' : 'fds';
  if (inputs.explicit > 0 && inputs.explicit <= maxConnections) {
    maxConnections = inputs.explicit;
    origin = 'explicit';
  }
  if (maxConnections <= 0) {
    throw new FloodgateError(
      'FG_ERR_CAPACITY',
      `The connection cap comes out as 0: memory ${inputs.memoryLimit} B − overhead ${inputs.memoryOverhead} B leaves room for ${memoryCap} connections of ${inputs.bytesPerConnection} B, fds leave ${fdCap}. Raise memoryLimit, lower memoryOverhead or bytesPerConnection, or raise the fd limit.`,
      { memoryCap, fdCap },
    );
  }
  const mib = (b: number): string => `${Math.round(b / 1024 / 1024)} MiB`;
  const kib = (b: number): string => `${(b / 1024).toFixed(b % 1024 === 0 ? 0 : 1)} KiB`;
  const fdPart = inputs.fdLimit === undefined ? 'fd limit unknown' : `fds ${inputs.fdLimit} − ${inputs.reservedFds} reserved = ${fdCap}`;
  const explicitPart = inputs.explicit > 0 ? `, explicit ${inputs.explicit}` : '';
  const explanation =
    `${maxConnections} (${origin}): memory (${mib(inputs.memoryLimit)} ${inputs.memorySource} − ${mib(inputs.memoryOverhead)} overhead) / ${kib(inputs.bytesPerConnection)} per connection = ${memoryCap}; ${fdPart}${explicitPart}`;
  return { maxConnections, origin, memoryCap, fdCap: Number.isFinite(fdCap) ? fdCap : -1, inputs, explanation };
}
