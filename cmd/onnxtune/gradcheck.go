package main

import (
	"fmt"
	"io"
	"math/rand/v2"
	"sort"

	"github.com/onnxtune/onnxtune/backprop"
	"github.com/onnxtune/onnxtune/graph"
	"github.com/onnxtune/onnxtune/tensor"
)

func init() {
	register(command{"gradcheck", "check a model's gradients against finite differences", runGradcheck})
}

func runGradcheck(args []string, stdout io.Writer) error {
	fs := newFlags("gradcheck", "MODEL.onnx [--input [NAME=]X.npy ...] [--batch N] [--samples K] [--tol T] [--seed S]", stdout)
	var inputs inputFlags
	fs.Var(&inputs, "input", "an input as `[NAME=]FILE.npy` (default: seeded normal values at the model's input shapes)")
	batch := fs.Int("batch", 1, "size given to symbolic input dimensions when no --input is given")
	samples := fs.Int("samples", 8, "elements checked per trainable initializer")
	tol := fs.Float64("tol", 5e-2, "largest relative error accepted; above it the command exits 1")
	seed := fs.Uint64("seed", 1, "seed for inputs, the output projection and the sampled elements")
	eps := fs.Float64("eps", 0, "finite-difference step relative to max(1, |w|) (default: the best of 1e-2, 1e-3 and 1e-4 for float32; 1e-6 for float64)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if err := exactArgs(pos, 1, "MODEL.onnx"); err != nil {
		return err
	}
	plan, err := loadPlan(pos[0])
	if err != nil {
		return err
	}
	var feeds map[string]*tensor.Tensor
	if len(inputs) > 0 {
		if feeds, err = readInputs(plan.Graph, inputs); err != nil {
			return err
		}
	} else if feeds, err = randomInputs(plan.Graph, *batch, *seed); err != nil {
		return err
	}
	wrt := backprop.Trainable(plan.Graph)
	if len(wrt) == 0 {
		return fmt.Errorf("%s: the model has no trainable initializers", pos[0])
	}
	results, err := backprop.Check(plan, feeds, wrt, backprop.CheckOptions{Samples: *samples, Seed: *seed, Eps: *eps})
	if err != nil {
		return err
	}
	// Worst error per node: the node that first reads each initializer.
	worst := map[string]float64{}
	var order []string
	for _, r := range results {
		if _, seen := worst[r.Node]; !seen {
			order = append(order, r.Node)
		}
		worst[r.Node] = max(worst[r.Node], r.RelErr)
	}
	sort.SliceStable(order, func(i, j int) bool { return worst[order[i]] > worst[order[j]] })
	fmt.Fprintf(stdout, "%-12s %s\n", "rel. error", "node")
	bad := 0
	for _, n := range order {
		mark := ""
		if worst[n] > *tol {
			mark, bad = "  > tol", bad+1
		}
		fmt.Fprintf(stdout, "%-12.3g %s%s\n", worst[n], n, mark)
	}
	if bad > 0 {
		return fmt.Errorf("%d node(s) with a relative gradient error above %g", bad, *tol)
	}
	fmt.Fprintf(stdout, "ok: %d trainable initializers, %d elements each at most, all within %g\n", len(wrt), *samples, *tol)
	return nil
}

// randomInputs makes seeded standard-normal float inputs at the declared shapes, with batch
// for every symbolic or unknown dimension.
func randomInputs(g *graph.Graph, batch int, seed uint64) (map[string]*tensor.Tensor, error) {
	r := rand.New(rand.NewPCG(seed, 7))
	feeds := map[string]*tensor.Tensor{}
	for _, in := range g.Inputs {
		if in.Shape == nil || !in.DType.IsFloat() {
			return nil, fmt.Errorf("input %q (%v): cannot make up values for it; give --input", in.Name, in.DType)
		}
		shape := make([]int, len(in.Shape))
		for i, d := range in.Shape {
			shape[i] = d.Size
			if d.Size < 0 {
				shape[i] = batch
			}
		}
		t, err := randomTensor(r, in.DType, shape)
		if err != nil {
			return nil, err
		}
		feeds[in.Name] = t
	}
	return feeds, nil
}
