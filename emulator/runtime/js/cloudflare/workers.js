// The "cloudflare:workers" module: base classes a Worker's exports extend, and the module-level `env`.
let workerEnv = {};

export function setWorkerEnv(env) {
  workerEnv = env;
}

export class DurableObject {
  constructor(ctx, env) {
    this.ctx = ctx;
    this.env = env;
  }
}

export class WorkerEntrypoint {
  constructor(ctx, env) {
    this.ctx = ctx;
    this.env = env;
  }
}

export class WorkflowEntrypoint {
  constructor(ctx, env) {
    this.ctx = ctx;
    this.env = env;
  }
}

export class RpcTarget {}

export const workersModule = {
  DurableObject,
  WorkerEntrypoint,
  WorkflowEntrypoint,
  RpcTarget,
  get env() {
    return workerEnv;
  },
};
