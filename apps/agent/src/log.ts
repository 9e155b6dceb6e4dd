export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

function bigintAsString(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? value.toString() : value;
}

/** One line per event on the given stream: JSON for machines, or `LEVEL message key=value` for people. */
export function createLogger(format: 'json' | 'text', write: (line: string) => void = (line) => process.stdout.write(line)): Logger {
  const emit = (level: LogLevel, message: string, fields: Record<string, unknown> = {}) => {
    const time = new Date().toISOString();
    if (format === 'json') {
      write(`${JSON.stringify({ time, level, message, ...fields }, bigintAsString)}\n`);
      return;
    }
    const rest = Object.entries(fields)
      .filter(([, value]) => value !== undefined)
      .map(([key, value]) => `${key}=${typeof value === 'string' || typeof value === 'bigint' ? String(value) : JSON.stringify(value, bigintAsString)}`)
      .join(' ');
    write(`${time} ${level.toUpperCase().padEnd(5)} ${message}${rest === '' ? '' : ` ${rest}`}\n`);
  };
  return {
    debug: (message, fields) => emit('debug', message, fields),
    info: (message, fields) => emit('info', message, fields),
    warn: (message, fields) => emit('warn', message, fields),
    error: (message, fields) => emit('error', message, fields),
  };
}
