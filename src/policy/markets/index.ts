// Public entry point of the markets (pure): one ledger, burstable credits with bonding and
// predictive preemption, the spot auction, and borrow/lend negotiation. See README.md.
export * from './ledger.js';
export * from './reasons.js';
export * from './dist.js';
export * from './credits.js';
export * from './bonding.js';
export * from './auction.js';
export * from './negotiation.js';
