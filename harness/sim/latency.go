package sim

import "time"

// Latencies is how long AWS takes to do what greenlight asks, in simulated
// time. DefaultLatencies equals the project's reference table of AWS
// latencies figure for figure; a test may override any field. Every field
// says where its figure comes from: "Source" for a published measurement or
// AWS documentation, "Estimate" where nothing is published, with the
// reasoning. The Lambda cold start has no field: it is measured by
// `make bench`, not modelled.
type Latencies struct {
	// RunInstancesCall is how long the RunInstances API call takes to
	// return. The simulator does not block on it; it is reported in Call
	// so the local engine can charge it to the step that made the call.
	// Source: measured median 1.5 s on c5.xlarge, daemonology.net, "EC2
	// boot time benchmarking" (2021-08-12).
	RunInstancesCall time.Duration

	// PendingToRunning is how long a launched (or started) instance stays
	// pending. Source: measured 16.4–16.6 s across t3/m6i/m7i/c7i/r7i,
	// brevdev/ec2-coldboot-research ("Pending→Running is 69 % of launch");
	// 4.9 s on c5.xlarge in 2021 (daemonology); encrypted EBS slows launch
	// (martysweet.co.uk, "EC2 Launch Times", 2023).
	PendingToRunning time.Duration

	// OSBoot is the time from running until the OS network is up and a
	// listening port answers. Source: 17.2 s + 5.6 s measured on Linux
	// AMIs, daemonology 2021; Amazon Linux 2023 is the fastest
	// general-purpose AMI (martysweet 2023).
	OSBoot time.Duration

	// SSMOnline is the time from running until the SSM agent is Online in
	// DescribeInstanceInformation and accepts commands. Estimate: the agent
	// starts with the OS (~20 s, OSBoot) plus registration; no published
	// measurement found.
	SSMOnline time.Duration

	// StatusChecksOK is the time from running until both status checks
	// pass (they report initializing before). Estimate: AWS docs say checks
	// run every minute and start initializing at launch; two passing
	// rounds after the OS is up.
	StatusChecksOK time.Duration

	// CreateVolume is how long a new volume stays creating before it is
	// available, with or without a snapshot. Estimate; AWS docs: a
	// restored volume is usable at once and loads blocks lazily from S3
	// (first reads are slower unless Fast Snapshot Restore is on).
	CreateVolume time.Duration

	// AttachVolume is how long an attachment stays attaching. Estimate; no
	// published measurement found.
	AttachVolume time.Duration

	// DetachVolume is how long an attachment stays detaching before the
	// volume is available. Estimate: detach waits for the OS to release
	// the device.
	DetachVolume time.Duration

	// SnapshotBase is the fixed part of a snapshot's pending time; the
	// point in time is fixed at the CreateSnapshot call (Source: AWS docs,
	// "How Amazon EBS snapshots work"). Estimate; AWS re:Post "Why is my
	// EBS snapshot creation slow": time grows with the blocks changed
	// since the last snapshot, and the first snapshot is full.
	SnapshotBase time.Duration

	// SnapshotBytesPerSecond is the copy rate for the changed data that
	// adds to SnapshotBase. Estimate: 100 MiB/s, same source as
	// SnapshotBase.
	SnapshotBytesPerSecond int64

	// BytesPerWrite is how much changed data one Region.Write leaves for
	// the next snapshot to copy. Estimate: 1 MiB, a modest transaction
	// with its index and log pages; it only scales incremental snapshot
	// time and is no AWS figure.
	BytesPerWrite int64

	// CommandOverhead is the time SSM adds around a command's own run time:
	// an invocation finishes at SendCommand + CommandOverhead + run time.
	// Estimate: delivery over the agent's message channel is
	// near-immediate, plus reporting back.
	CommandOverhead time.Duration

	// CommandDelivery is the part of CommandOverhead before the script
	// starts (Pending → InProgress); the script's effects on the instance
	// happen at that moment. Estimate: half of CommandOverhead, the other
	// half being the report back.
	CommandDelivery time.Duration

	// InvocationNotFound is how long GetCommandInvocation answers
	// InvocationDoesNotExist after SendCommand. Estimate: "may answer for
	// about a second after the send", the reference table's note on the
	// SSM row.
	InvocationNotFound time.Duration

	// AssociateAddress is the time from AssociateAddress (or
	// DisassociateAddress) until traffic to the Elastic IP follows the new
	// association. Estimate: API call ~1 s plus mapping propagation.
	AssociateAddress time.Duration

	// LambdaWarmInvoke is the overhead the local engine charges per warm
	// Lambda invocation. Estimate.
	LambdaWarmInvoke time.Duration

	// InstanceNotFound is how long a newly launched instance answers
	// InvalidInstanceID.NotFound to calls that name it (Describe*,
	// CreateTags, AttachVolume …). Estimate: AWS docs on EC2 eventual
	// consistency say a new resource may not be visible at once and advise
	// retrying with backoff; 2 s makes a step's first check after launch
	// meet it without dominating the timeline.
	InstanceNotFound time.Duration

	// StoppingToStopped is how long an instance stays stopping. Estimate:
	// no figure in the reference table; a clean OS shutdown of a small web
	// server (systemd stops the app, unmounts, powers off) plus the
	// hypervisor releasing the host, commonly observed under a minute; 30 s
	// sits in that range.
	StoppingToStopped time.Duration

	// ShuttingDownToTerminated is how long an instance stays
	// shutting-down; its volumes are deleted or detached and its Elastic
	// IP released when it ends. Estimate: the same shutdown work as a
	// stop, so the same 30 s.
	ShuttingDownToTerminated time.Duration

	// TerminatedVisible is how long a terminated instance still appears
	// in DescribeInstances. Source: AWS docs, "Terminate Amazon EC2
	// instances": a terminated instance remains visible for about an
	// hour.
	TerminatedVisible time.Duration

	// ListenerUpdate is the time from ModifyListener (or ModifyRule) until
	// the load balancer routes by the new forward action (weights,
	// stickiness). Estimate: the call returns once ELB accepted the
	// change; every load balancer node (at least one per enabled AZ) then
	// picks the configuration up asynchronously. AWS publishes no figure;
	// Describe* show the change at once, so a step that reads it back
	// cannot tell when traffic follows. 5 s, a few seconds of propagation
	// like AssociateAddress's.
	ListenerUpdate time.Duration

	// TargetRegistration is how long a registered target stays initial
	// with reason Elb.RegistrationInProgress ("The target is in the
	// process of being registered with the load balancer", TargetHealth,
	// ELB API Reference) before the first health check is sent; health
	// checks then follow every HealthCheckIntervalSeconds. Estimate: the
	// registration reaches every load balancer node as a listener change
	// does, then a node schedules its first check; no figure is
	// published. 10 s, twice ListenerUpdate.
	TargetRegistration time.Duration

	// MetricPublishDelay is how long after a minute ends the load
	// balancer's datapoints for it can be read from CloudWatch. Source
	// for the cadence: "Elastic Load Balancing measures and sends its
	// metrics in 60-second intervals" (CloudWatch metrics for your
	// Application Load Balancer,
	// elasticloadbalancing/latest/application/load-balancer-cloudwatch-metrics.html).
	// Estimate for the rest: CloudWatch ingestion adds roughly another
	// minute before a datapoint is returned; 60 s.
	MetricPublishDelay time.Duration
}

// DefaultLatencies returns the reference table.
func DefaultLatencies() Latencies {
	return Latencies{
		RunInstancesCall:         1500 * time.Millisecond,
		PendingToRunning:         16 * time.Second,
		OSBoot:                   20 * time.Second,
		SSMOnline:                45 * time.Second,
		StatusChecksOK:           150 * time.Second,
		CreateVolume:             10 * time.Second,
		AttachVolume:             5 * time.Second,
		DetachVolume:             8 * time.Second,
		SnapshotBase:             20 * time.Second,
		SnapshotBytesPerSecond:   100 << 20,
		BytesPerWrite:            1 << 20,
		CommandOverhead:          2 * time.Second,
		CommandDelivery:          1 * time.Second,
		InvocationNotFound:       1 * time.Second,
		AssociateAddress:         3 * time.Second,
		LambdaWarmInvoke:         50 * time.Millisecond,
		InstanceNotFound:         2 * time.Second,
		StoppingToStopped:        30 * time.Second,
		ShuttingDownToTerminated: 30 * time.Second,
		TerminatedVisible:        time.Hour,
		ListenerUpdate:           5 * time.Second,
		TargetRegistration:       10 * time.Second,
		MetricPublishDelay:       60 * time.Second,
	}
}

// snapshotDuration is how long a snapshot copying changed bytes stays
// pending.
func (l Latencies) snapshotDuration(changed int64) time.Duration {
	d := l.SnapshotBase
	if l.SnapshotBytesPerSecond > 0 && changed > 0 {
		d += time.Duration(float64(changed) / float64(l.SnapshotBytesPerSecond) * float64(time.Second))
	}
	return d
}
