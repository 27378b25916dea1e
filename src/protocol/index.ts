/** Protocol facts shared by the client and the emulator: opcodes, close codes, intents, snowflakes. */
export * from './close-codes.js';
export * from './intents.js';
export * from './opcodes.js';
export * from './snowflake.js';
