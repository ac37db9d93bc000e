import { createLogger } from '../../relay/src/log.ts';

/** A real logger that prints only when TEST_LOG is set (e.g. TEST_LOG=debug). */
export const testLogger = createLogger(process.env.TEST_LOG ?? 'error', !process.env.TEST_LOG);
