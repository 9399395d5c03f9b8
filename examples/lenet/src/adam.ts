// Adam (Kingma & Ba, 2015), the optimiser: per parameter, running means of the gradient (m) and of its
// square (v), and a step of lr · m̂ / (√v̂ + ε) with the bias corrections m̂ = m / (1 − β1^t) and
// v̂ = v / (1 − β2^t). TensorFlow.js's tf.train.adam, which the benchmark trains the same network
// with, computes the same step with the same defaults.
export class Adam {
  private readonly m: Float32Array[];
  private readonly v: Float32Array[];
  private t = 0;

  /** lr: the step size (the trainer lowers it epoch by epoch). */
  constructor(private readonly params: Float32Array[], public lr = 1e-3, readonly beta1 = 0.9, readonly beta2 = 0.999, readonly eps = 1e-7) {
    this.m = params.map((p) => new Float32Array(p.length));
    this.v = params.map((p) => new Float32Array(p.length));
  }

  /** One step: grads[i] is d loss / d params[i]; the parameters are updated in place. */
  step(grads: Float32Array[]): void {
    this.t++;
    const { beta1: b1, beta2: b2, eps } = this;
    const c1 = 1 / (1 - b1 ** this.t), c2 = 1 / (1 - b2 ** this.t); // the bias corrections
    this.params.forEach((p, i) => {
      const g = grads[i], m = this.m[i], v = this.v[i];
      for (let k = 0; k < p.length; k++) {
        m[k] = b1 * m[k] + (1 - b1) * g[k];
        v[k] = b2 * v[k] + (1 - b2) * g[k] * g[k];
        p[k] -= (this.lr * m[k] * c1) / (Math.sqrt(v[k] * c2) + eps);
      }
    });
  }
}
