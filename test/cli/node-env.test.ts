import { describe, expect, it } from 'vitest';
import { MALLOC_ENV, nodeEnv } from '../../cli/node-processes.ts';

describe('node process environment', () => {
  it('gives nodes the glibc malloc settings and a warn log level unless the caller set them', () => {
    const env = nodeEnv({ PATH: '/bin' });
    expect(env).toMatchObject({ ...MALLOC_ENV, TENURE_LOG_LEVEL: 'warn', PATH: '/bin' });
    expect(env.MALLOC_MMAP_THRESHOLD_).toBe('65536');
    const own = nodeEnv({ MALLOC_MMAP_THRESHOLD_: '131072', TENURE_LOG_LEVEL: 'debug' }, { TENURE_TRANSPORT: 'facade' });
    expect(own).toMatchObject({ MALLOC_MMAP_THRESHOLD_: '131072', MALLOC_TRIM_THRESHOLD_: '1048576', TENURE_LOG_LEVEL: 'debug', TENURE_TRANSPORT: 'facade' });
  });
});
