import type { NextConfig } from 'next';

const config: NextConfig = {
  // Coatcheck needs Node APIs (node:crypto, node:sqlite): keep it out of the bundle, load it from
  // node_modules at run time like any server dependency.
  serverExternalPackages: ['coatcheck'],
};

export default config;
