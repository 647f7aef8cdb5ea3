package localrun

import (
	"context"
	"errors"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/greenlight/greenlight/harness/sim"
)

// Writes is the data the users wrote while releases ran, and where it is
// now: every accepted write must be on the live instance's data volume.
// In alb mode each write is a request through the load balancer, stored
// by whichever instance it chose.
type Writes struct {
	// Baseline is the live data volume's write count when the
	// environment started.
	Baseline int64 `json:"baseline"`
	// Accepted writes reached a data volume; refused ones met the
	// maintenance page, a stopped app or, in alb mode, any answer but
	// success (the user saw an error; nothing was lost).
	Accepted int64 `json:"accepted"`
	Refused  int64 `json:"refused"`
	// LiveVolume is the data volume of the instance serving now, and
	// OnLiveVolume the writes it holds.
	LiveVolume   string `json:"liveVolume"`
	OnLiveVolume int64  `json:"onLiveVolume"`
	// Lost is Baseline + Accepted − OnLiveVolume: writes accepted and then
	// lost. It must be 0.
	Lost int64 `json:"lost"`
}

// maxWritesPerAdvance bounds the requests one clock move makes (a long
// wait does not need one a second to prove the point).
const maxWritesPerAdvance = 600

// userTraffic models the app's users while a release runs: one request a
// second. In elasticIp mode it is a write through the Elastic IP, with a
// data volume only; in alb mode a request through the load balancer (see
// albRequest). Time shorter than a second carries over to the next move:
// a step polling every half second must still meet the users.
func (e *Env) userTraffic(from, to time.Time) {
	if !e.sched.Busy() {
		return
	}
	e.mu.Lock()
	e.writeClock += to.Sub(from)
	n := int(e.writeClock / time.Second)
	e.writeClock -= time.Duration(n) * time.Second
	e.mu.Unlock()
	if n > maxWritesPerAdvance {
		n = maxWritesPerAdvance
	}
	for i := 0; i < n; i++ {
		if e.albModel != nil {
			e.albRequest()
			continue
		}
		err := e.Region.Write(e.live())
		e.mu.Lock()
		switch {
		case err == nil:
			e.writes.Accepted++
		case errors.Is(err, sim.ErrWriteRefused):
			e.writes.Refused++
		}
		e.mu.Unlock()
	}
}

// Writes checks that no accepted write was lost: the serving instance's
// data volume holds the baseline plus every accepted write.
func (e *Env) Writes() Writes {
	e.mu.Lock()
	w := e.writes
	e.mu.Unlock()
	ctx := sim.WithCaller(context.Background(), "localrun")
	out, err := e.Region.EC2().DescribeVolumes(ctx, &ec2.DescribeVolumesInput{Filters: []ec2types.Filter{
		{Name: aws.String("attachment.instance-id"), Values: []string{e.live()}},
		{Name: aws.String("attachment.device"), Values: []string{e.Config.Data.Device}},
	}})
	if err == nil && len(out.Volumes) > 0 {
		w.LiveVolume = aws.ToString(out.Volumes[0].VolumeId)
		w.OnLiveVolume, _ = e.Region.VolumeWrites(w.LiveVolume)
	}
	w.Lost = w.Baseline + w.Accepted - w.OnLiveVolume
	return w
}
