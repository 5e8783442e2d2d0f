package metrics

import (
	"math"
	"math/rand/v2"
	"time"

	"github.com/heraldmq/herald/internal/vcd"
)

// simulator produces plausible values of VCD's metric set (VCD-COMPAT §9.2) for each
// VM: CPU and memory as bounded random walks, disk usage that grows slowly within a
// fixed provisioned size, and bursty disk throughput. Its state is per node; the node
// that claims an interval continues the walk from what it last produced, or from a new
// start.
type simulator struct {
	rnd *rand.Rand
	vms map[string]*simVM
}

type simVM struct {
	cpu, mem    float64 // PERCENT
	mhz         float64 // MEGAHERTZ at 100 %
	provisioned float64 // KILOBYTE
	used        float64 // KILOBYTE
}

// Simulated hardware: 2 vCPUs at 2.4 GHz and a 40 GiB disk.
const (
	simMHz         = 2 * 2400
	simProvisioned = 40 * 1024 * 1024
)

func newSimulator(seed uint64) *simulator {
	if seed == 0 {
		seed = rand.Uint64()
	}
	return &simulator{rnd: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), vms: make(map[string]*simVM)}
}

// walk moves v by a random step of at most step, kept within [lo, hi].
func (s *simulator) walk(v, step, lo, hi float64) float64 {
	return math.Min(hi, math.Max(lo, v+(s.rnd.Float64()*2-1)*step))
}

// round1 rounds to one decimal, as VCD reports percentages.
func round1(v float64) float64 { return math.Round(v*10) / 10 }

// samples returns one sample of every metric of every VM of vapps at t, and forgets
// VMs that are gone.
func (s *simulator) samples(vapps []VApp, t time.Time) []vcd.VMSamples {
	seen := make(map[string]bool)
	var out []vcd.VMSamples
	for _, v := range vapps {
		for _, vm := range v.VMs {
			seen[vm.ID] = true
			st := s.vms[vm.ID]
			if st == nil {
				st = &simVM{cpu: 5 + s.rnd.Float64()*40, mem: 20 + s.rnd.Float64()*50, mhz: simMHz,
					provisioned: simProvisioned, used: simProvisioned * (0.1 + s.rnd.Float64()*0.5)}
				s.vms[vm.ID] = st
			}
			st.cpu = s.walk(st.cpu, 10, 0, 100)
			st.mem = s.walk(st.mem, 3, 5, 98)
			st.used = math.Min(st.provisioned, st.used+s.rnd.Float64()*1024)
			peak := math.Min(100, st.cpu+s.rnd.Float64()*15)
			out = append(out, vcd.VMSamples{VMID: vm.ID, Samples: []vcd.MetricSample{
				{Name: "cpu.usage.average", Value: round1(st.cpu), Time: t},
				{Name: "cpu.usagemhz.average", Value: math.Round(st.cpu / 100 * st.mhz), Time: t},
				{Name: "cpu.usage.maximum", Value: round1(peak), Time: t},
				{Name: "mem.usage.average", Value: round1(st.mem), Time: t},
				{Name: "disk.provisioned.latest", Value: st.provisioned, Time: t},
				{Name: "disk.used.latest", Value: math.Round(st.used), Time: t},
				{Name: "disk.read.average", Value: math.Round(s.rnd.ExpFloat64() * 800), Time: t},
				{Name: "disk.write.average", Value: math.Round(s.rnd.ExpFloat64() * 400), Time: t},
			}})
		}
	}
	for id := range s.vms {
		if !seen[id] {
			delete(s.vms, id)
		}
	}
	return out
}
