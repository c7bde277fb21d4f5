package nanodet

// fuse rewrites the graph, after constant folding, so that fewer passes
// over memory are needed; the results are unchanged:
//
//   - Pad (zeros) -> Transpose -> Conv2D VALID becomes Transpose -> Conv2D
//     with explicit padding, done by the convolution itself;
//   - PadV2 (a very negative constant) -> Transpose -> MaxPool VALID
//     likewise, padding ignored by the max;
//   - Conv2D -> Add (bias) [-> Transpose] -> LeakyRelu becomes one Conv2D
//     whose GEMM adds the bias and applies the activation per tile;
//   - a Sigmoid just before an output is dropped and the output marked in
//     g.logits: the decoder applies it to the few scores above threshold.
//
// Nodes left without consumers are marked dead and never run.
func fuse(g *graph) {
	users := func() []int {
		u := make([]int, len(g.nodes))
		for _, n := range g.nodes {
			for _, in := range n.inputs {
				u[in.node]++
			}
		}
		for _, o := range g.outputs {
			u[o]++
		}
		return u
	}
	// replace makes every reader of node old read nw instead.
	replace := func(old int, nw ref) {
		for _, n := range g.nodes {
			for k := range n.inputs {
				if n.inputs[k].node == old {
					n.inputs[k] = nw
				}
			}
		}
		for k, o := range g.outputs {
			if o == old && nw.out == 0 {
				g.outputs[k] = nw.node
			}
		}
	}
	u := users()
	for _, n := range g.nodes {
		if (n.op != "Conv2D" && n.op != "MaxPool") || n.padding != "VALID" {
			continue
		}
		t := n.inputs[0].node
		tn := g.nodes[t]
		if tn.op != "Transpose" || u[t] != 1 {
			continue
		}
		p := tn.inputs[0].node
		pn := g.nodes[p]
		if pn.op != "Pad" && pn.op != "PadV2" {
			continue
		}
		perm, pads := g.consts[tn.inputs[1].node], g.consts[pn.inputs[1].node]
		if u[p] != 1 || perm == nil || pads == nil || !perm.isInt || !pads.isInt || len(perm.i) != 4 || len(pads.i) != 8 {
			continue
		}
		switch {
		case n.op == "Conv2D" && pn.op == "Pad":
		case n.op == "MaxPool" && pn.op == "PadV2":
			v := g.consts[pn.inputs[2].node]
			if v == nil || v.isInt || len(v.f) != 1 || !(v.f[0] <= -65504) {
				continue
			}
		default:
			continue
		}
		var ep [8]int
		ok := true
		for k := 0; k < 4; k++ {
			a := perm.i[k]
			if a < 0 || a > 3 {
				ok = false
				break
			}
			ep[2*k], ep[2*k+1] = int(pads.i[2*a]), int(pads.i[2*a+1])
		}
		if !ok || ep[0] != 0 || ep[1] != 0 || ep[6] != 0 || ep[7] != 0 || ep[2] > 64 || ep[3] > 64 || ep[4] > 64 || ep[5] > 64 {
			continue
		}
		n.padding, n.explicitPad = "EXPLICIT", ep
		tn.inputs[0] = pn.inputs[0]
		pn.inputs = nil // dead now
		u = users()
	}
	for i, n := range g.nodes {
		if n.op != "Conv2D" || u[i] != 1 {
			continue
		}
		a := consumer(g, i)
		if a < 0 || (g.nodes[a].op != "Add" && g.nodes[a].op != "AddV2") {
			continue
		}
		an := g.nodes[a]
		other := an.inputs[1]
		if an.inputs[1].node == i {
			other = an.inputs[0]
		}
		bias := g.consts[other.node]
		w := g.consts[n.inputs[1].node]
		if bias == nil || bias.isInt || len(bias.shape) != 1 || w == nil || len(w.shape) != 4 || bias.shape[0] != w.shape[3] {
			continue
		}
		n.bias = bias.f
		replace(a, ref{i, 0})
		an.inputs = nil
		u = users()
		// An activation right after (possibly behind a layout Transpose).
		next := consumer(g, i)
		if u[i] != 1 || next < 0 {
			continue
		}
		switch nn := g.nodes[next]; {
		case nn.op == "LeakyRelu":
			n.leaky, n.alpha = true, nn.alpha
			replace(next, ref{i, 0})
			nn.inputs = nil
		case nn.op == "Transpose" && u[next] == 1:
			l := consumer(g, next)
			if l >= 0 && g.nodes[l].op == "LeakyRelu" {
				n.leaky, n.alpha = true, g.nodes[l].alpha
				replace(l, ref{next, 0})
				g.nodes[l].inputs = nil
			}
		}
		u = users()
	}
	// A Sigmoid whose only path leads, through layout ops, to an output is
	// left to the decoder, which applies it only to the scores it keeps.
	g.logits = make([]bool, len(g.outputs))
	for k, o := range g.outputs {
		i := o
		for {
			n := g.nodes[i]
			if (n.op == "Identity" || n.op == "Transpose" || n.op == "Reshape") && u[i] == 1 {
				i = n.inputs[0].node
				continue
			}
			break
		}
		if n := g.nodes[i]; n.op == "Sigmoid" && u[i] == 1 && i != o {
			replace(i, n.inputs[0])
			n.inputs = nil
			g.logits[k] = true
			u = users()
		}
	}
	markLive(g)
}

// consumer returns the first node reading node i, or -1.
func consumer(g *graph, i int) int {
	for k, n := range g.nodes {
		for _, in := range n.inputs {
			if in.node == i {
				return k
			}
		}
	}
	return -1
}

// markLive marks the nodes the outputs depend on; the rest are skipped.
func markLive(g *graph) {
	g.live = make([]bool, len(g.nodes))
	stack := append([]int{}, g.outputs...)
	for len(stack) > 0 {
		i := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if g.live[i] {
			continue
		}
		g.live[i] = true
		for _, in := range g.nodes[i].inputs {
			stack = append(stack, in.node)
		}
	}
}
