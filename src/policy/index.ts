// Public surface of the policy framework.
export * from './framework/types.js';
export * from './framework/reasons.js';
export * from './framework/registry.js';
export * from './framework/profile.js';
export * from './framework/decide.js';
export * from './framework/settings.js';
export * from './builtin.js';
export * from './profiles.js';
