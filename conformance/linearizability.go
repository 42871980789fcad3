package conformance

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/s3coord/coord/driver"
)

// Shape of the random histories: a few keys so that operations contend.
const (
	lzKeys       = 3
	lzClients    = 8
	lzOpsPerClnt = 24
)

type lzKind uint8

const (
	lzGet lzKind = iota
	lzPut
	lzPutIfAbsent
	lzPutIfMatch
	lzDelete
	lzDeleteIfMatch
)

// lzInput is one call. Data written is unique across the history, so every
// successful write changes the version.
type lzInput struct {
	kind    lzKind
	key     string
	data    string
	version string // IfMatch version
}

// lzOutput is what the call returned. ok is false for ErrPrecondition (and
// for ErrNotFound on a Get).
type lzOutput struct {
	ok      bool
	data    string
	version string
}

// lzState is the register of one key. Versions are part of the state: a
// Get must return the version of the write it observes, and IfMatch is
// judged against it.
type lzState struct {
	exists  bool
	data    string
	version string
}

var registerModel = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		var order []string
		for _, op := range history {
			k := op.Input.(lzInput).key
			if _, ok := byKey[k]; !ok {
				order = append(order, k)
			}
			byKey[k] = append(byKey[k], op)
		}
		out := make([][]porcupine.Operation, 0, len(order))
		for _, k := range order {
			out = append(out, byKey[k])
		}
		return out
	},
	Init: func() any { return lzState{} },
	Step: func(state, input, output any) (bool, any) {
		st, in, out := state.(lzState), input.(lzInput), output.(lzOutput)
		written := lzState{exists: true, data: in.data, version: out.version}
		// A write of new bytes must produce a new, non-empty version.
		freshVersion := out.version != "" && !(st.exists && out.version == st.version)
		matches := st.exists && in.version != "" && in.version == st.version
		switch in.kind {
		case lzGet:
			if out.ok {
				return st.exists && out.data == st.data && out.version == st.version, st
			}
			return !st.exists, st
		case lzPut:
			return out.ok && freshVersion, written
		case lzPutIfAbsent:
			if out.ok {
				return !st.exists && freshVersion, written
			}
			return st.exists, st
		case lzPutIfMatch:
			if out.ok {
				return matches && freshVersion, written
			}
			return !matches, st
		case lzDelete:
			return out.ok, lzState{}
		case lzDeleteIfMatch:
			if out.ok {
				return matches, lzState{}
			}
			return !matches, st
		}
		return false, st
	},
	DescribeOperation: func(input, output any) string {
		in, out := input.(lzInput), output.(lzOutput)
		names := [...]string{"get", "put", "put-ifabsent", "put-ifmatch", "delete", "delete-ifmatch"}
		return fmt.Sprintf("%s(%s %q %q) -> ok=%v %q %q", names[in.kind], in.key, in.data, in.version, out.ok, out.data, out.version)
	},
	DescribeState: func(state any) string {
		st := state.(lzState)
		if !st.exists {
			return "absent"
		}
		return fmt.Sprintf("%q@%s", st.data, st.version)
	},
}

func (r *rules) testLinearizable(t T, st driver.Store) {
	ctx := t.Context()
	origin := time.Now()
	now := func() int64 { return int64(time.Since(origin)) }

	var (
		mu      sync.Mutex
		history []porcupine.Operation
		failed  bool
	)
	var wg sync.WaitGroup
	for c := range lzClients {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(c), 0x5eed))
			seen := map[string]string{} // last version this client saw, per key
			for i := range lzOpsPerClnt {
				in := lzInput{key: fmt.Sprintf("lz/k%d", rng.IntN(lzKeys))}
				switch p := rng.IntN(100); {
				case p < 30:
					in.kind = lzGet
				case p < 45:
					in.kind = lzPut
				case p < 60:
					in.kind = lzPutIfAbsent
				case p < 85:
					in.kind = lzPutIfMatch
				case p < 92 || !r.opts.ConditionalDelete:
					in.kind = lzDelete
				default:
					in.kind = lzDeleteIfMatch
				}
				if in.kind == lzPutIfMatch || in.kind == lzDeleteIfMatch {
					in.version = seen[in.key]
				}
				in.data = fmt.Sprintf("c%d-op%d", c, i)

				call := now()
				out, err := lzDo(ctx, st, in)
				ret := now()
				if err != nil {
					mu.Lock()
					failed = true
					mu.Unlock()
					t.Errorf("%s: unexpected error: %v", registerModel.DescribeOperation(in, out), err)
					continue
				}
				if out.ok && out.version != "" {
					seen[in.key] = out.version
				}
				mu.Lock()
				history = append(history, porcupine.Operation{ClientId: c, Input: in, Call: call, Output: out, Return: ret})
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if failed {
		return // an operation with an unknown outcome makes the history uncheckable
	}
	res, info := porcupine.CheckOperationsVerbose(registerModel, history, 30*time.Second)
	switch res {
	case porcupine.Ok:
	case porcupine.Unknown:
		t.Logf("linearizability check of %d operations timed out; no violation found", len(history))
	default:
		path := filepath.Join(os.TempDir(), fmt.Sprintf("coord-linearizability-%d.html", time.Now().UnixNano()))
		if err := porcupine.VisualizePath(registerModel, info, path); err != nil {
			path = "(visualization failed: " + err.Error() + ")"
		}
		t.Errorf("the history of %d concurrent operations on %d keys is not linearizable; visualization: %s", len(history), lzKeys, path)
	}
}

// lzDo performs in and classifies the result; err is non-nil only for
// outcomes the contract does not allow.
func lzDo(ctx context.Context, st driver.Store, in lzInput) (lzOutput, error) {
	var (
		out lzOutput
		err error
	)
	switch in.kind {
	case lzGet:
		var o driver.Object
		o, err = st.Get(ctx, in.key)
		if err == nil {
			return lzOutput{ok: true, data: string(o.Data), version: o.Version}, nil
		}
		if errors.Is(err, driver.ErrNotFound) {
			return lzOutput{}, nil
		}
		return out, err
	case lzPut, lzPutIfAbsent, lzPutIfMatch:
		cond := driver.None
		if in.kind == lzPutIfAbsent {
			cond = driver.IfAbsent()
		} else if in.kind == lzPutIfMatch {
			cond = driver.IfMatch(in.version)
		}
		out.version, err = st.Put(ctx, in.key, []byte(in.data), cond)
	case lzDelete:
		err = st.Delete(ctx, in.key, driver.None)
	case lzDeleteIfMatch:
		err = st.Delete(ctx, in.key, driver.IfMatch(in.version))
	}
	switch {
	case err == nil:
		out.ok = true
		return out, nil
	case errors.Is(err, driver.ErrPrecondition) && in.kind != lzPut && in.kind != lzDelete:
		return lzOutput{}, nil
	}
	return out, err
}
