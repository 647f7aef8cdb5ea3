package traffic

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"

	"github.com/greenlight/greenlight/internal/release"
	"github.com/greenlight/greenlight/internal/traffic"
	"github.com/greenlight/greenlight/lambdas/step"
)

// checkAlarms fails the step when any of traffic.alarms is in ALARM. One
// DescribeAlarms call reads them all (at most 100 names, which the config
// schema enforces). They are metric alarms: "To use this operation and
// return information about composite alarms, you must be signed on with
// the cloudwatch:DescribeAlarms permission that is scoped to *"
// ("DescribeAlarms", Amazon CloudWatch API Reference,
// AmazonCloudWatch/latest/APIReference/API_DescribeAlarms.html), and the
// step's role reads only the alarms the config names. Prepare refuses a
// name that is no metric alarm, since an unknown name is
// simply left out of the answer.
func (h Handler) checkAlarms(ctx context.Context, d release.Doc) error {
	alarms, err := traffic.Alarms(ctx, h.D.AWS.CloudWatch, d.Config.Traffic.Alarms)
	if err != nil {
		return step.Traffic(err)
	}
	var firing []string
	for _, a := range alarms {
		if a.StateValue == cwtypes.StateValueAlarm {
			firing = append(firing, fmt.Sprintf("%s (%s)", aws.ToString(a.AlarmName), aws.ToString(a.StateReason)))
		}
	}
	if len(firing) > 0 {
		return release.ShiftFailed{Cause: release.Causef("alarm in ALARM: %s", strings.Join(firing, "; "))}
	}
	return nil
}

// MinRequestsToCompare is how many requests the candidate's target group
// must have answered during a step before its error rate is compared: a
// single 5xx among a handful of requests says nothing.
const MinRequestsToCompare = 20

// compareErrorRates fails the step when the candidate's target group
// answers with a 5xx more often than the live one, by more than
// traffic.maxErrorRateIncrease percentage points, over the step so far.
//
// The metrics ("CloudWatch metrics for your Application Load Balancer",
// elasticloadbalancing/latest/application/load-balancer-cloudwatch-metrics.html):
// RequestCount and HTTPCode_Target_5XX_Count in AWS/ApplicationELB, by the
// TargetGroup and LoadBalancer dimensions (each the final portion of its
// ARN), with the Sum statistic; published only for minutes with requests,
// so a minute without any has no datapoint and counts as none.
func (h Handler) compareErrorRates(ctx context.Context, d release.Doc, st *release.TrafficStep) error {
	alb := d.Config.Traffic.ALB
	if alb == nil || len(alb.TargetGroupARNs) != 2 {
		return nil
	}
	lb, ok := loadBalancerDimension(alb.ListenerARN)
	if !ok {
		return release.StepFailed{Cause: release.Causef("listener %s: not a listener ARN", alb.ListenerARN)}
	}
	reg := d.Register
	if reg == nil || reg.Group == "" {
		return nil // registered before any step: never without a group
	}
	live := alb.TargetGroupARNs[0]
	if live == reg.Group {
		live = alb.TargetGroupARNs[1]
	}
	now := h.D.Now().UTC()
	start := st.StartedAt.Truncate(time.Minute)
	if !start.Before(now) {
		return nil
	}
	var queries []cwtypes.MetricDataQuery
	for i, g := range []string{reg.Group, live} {
		tg, ok := targetGroupDimension(g)
		if !ok {
			return release.StepFailed{Cause: release.Causef("target group %s: not a target group ARN", g)}
		}
		for _, m := range []string{"RequestCount", "HTTPCode_Target_5XX_Count"} {
			queries = append(queries, cwtypes.MetricDataQuery{
				Id: aws.String(fmt.Sprintf("g%d_%s", i, strings.ToLower(strings.TrimPrefix(m, "HTTPCode_")))),
				MetricStat: &cwtypes.MetricStat{
					Metric: &cwtypes.Metric{Namespace: aws.String("AWS/ApplicationELB"), MetricName: aws.String(m), Dimensions: []cwtypes.Dimension{
						{Name: aws.String("TargetGroup"), Value: aws.String(tg)},
						{Name: aws.String("LoadBalancer"), Value: aws.String(lb)},
					}},
					Period: aws.Int32(60),
					Stat:   aws.String("Sum"),
				},
			})
		}
	}
	out, err := h.D.AWS.CloudWatch.GetMetricData(ctx, &cloudwatch.GetMetricDataInput{StartTime: aws.Time(start), EndTime: aws.Time(now), MetricDataQueries: queries})
	if err != nil {
		return step.AWS("cloudwatch:GetMetricData", reg.Group, err)
	}
	sums := map[string]float64{}
	for _, r := range out.MetricDataResults {
		for _, v := range r.Values {
			sums[aws.ToString(r.Id)] += v
		}
	}
	candReq, cand5xx := sums["g0_requestcount"], sums["g0_target_5xx_count"]
	liveReq, live5xx := sums["g1_requestcount"], sums["g1_target_5xx_count"]
	if candReq < MinRequestsToCompare {
		return nil
	}
	candRate := 100 * cand5xx / candReq
	liveRate := 0.0
	if liveReq > 0 {
		liveRate = 100 * live5xx / liveReq
	}
	if limit := d.Config.MaxErrorRateIncrease(); candRate-liveRate > limit {
		return release.ShiftFailed{Cause: release.Causef("at %d %%, the candidate's target group answered %.0f of %.0f requests with a 5xx (%.1f %%), the live one %.1f %%: more than %.1f points worse (traffic.maxErrorRateIncrease)",
			st.Weight, cand5xx, candReq, candRate, liveRate, limit)}
	}
	return nil
}

// loadBalancerDimension is the LoadBalancer dimension of a listener's (or
// listener rule's) load balancer: "app/<name>/<id>", read from the
// listener ARN ("listener/app/<name>/<id>/<listener-id>").
func loadBalancerDimension(listenerARN string) (string, bool) {
	a, ok := release.ParseELBARN(listenerARN)
	if !ok {
		return "", false
	}
	_, rest, ok := strings.Cut(a.Resource, "/")
	parts := strings.Split(rest, "/")
	if !ok || len(parts) < 3 {
		return "", false
	}
	return strings.Join(parts[:3], "/"), true
}

// targetGroupDimension is the TargetGroup dimension: "targetgroup/<name>/<id>".
func targetGroupDimension(arn string) (string, bool) {
	a, ok := release.ParseELBARN(arn)
	if !ok || !strings.HasPrefix(a.Resource, "targetgroup/") {
		return "", false
	}
	return a.Resource, true
}
