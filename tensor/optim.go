package tensor

// AdamCoeffs are the per-step float32 constants of one Adam or AdamW update (see AdamStep).
type AdamCoeffs struct {
	Beta1, OneMinusBeta1 float32
	Beta2, OneMinusBeta2 float32
	Eps                  float32
	SqrtBiasCorrection2  float32 // sqrt(1 - beta2^t)
	NegStepSize          float32 // -lr/(1 - beta1^t)
	WeightDecay          float32 // Adam's: g += WeightDecay*p, when Coupled
	Decay                float32 // AdamW's: p *= Decay, when Decoupled
	Coupled, Decoupled   bool
}

// AdamStep applies the Adam update to the leading elements of p, with gradient g and moments
// m and v, and returns how many it did: a multiple of 8, or 0 where there is no vector
// kernel; the caller's Go loop does the rest. Per element, with fused multiply-adds rounding
// once (as PyTorch's CPU kernels):
//
//	p *= Decay (Decoupled) or g = fma(WeightDecay, p, g) (Coupled);
//	m = fma(OneMinusBeta1, g, m*Beta1); v = fma(OneMinusBeta2*g, g, v*Beta2);
//	p += (NegStepSize*m) / (sqrt(v)/SqrtBiasCorrection2 + Eps)
//
// which is bit for bit what the Go loop of package train computes.
func AdamStep(p, g, m, v []float32, c *AdamCoeffs) int {
	return adamFloat32(p, g, m, v, c)
}
