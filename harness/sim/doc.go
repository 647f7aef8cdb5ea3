// Package sim is greenlight's simulated AWS region: the services no
// emulator covers (EC2, EBS, Elastic IP, SSM, EventBridge Scheduler, SNS,
// the Step Functions callbacks, an Application Load Balancer and CloudWatch
// alarms and metrics) implemented in memory behind the
// internal/awsapi interfaces, plus helpers that start the emulators used for
// the rest (gofakes3 for S3, dynalite for DynamoDB) with the real SDK
// clients pointed at them.
//
// Time is simulated: nothing sleeps. A Region runs on a Clock the caller
// advances, and every asynchronous change AWS makes (pending → running,
// attaching → attached, snapshot pending → completed, traffic following an
// Elastic IP or a listener's weights, a target's health checks) happens when the clock passes the moment the latency table
// (Latencies) says it would. Errors carry the codes and message shapes AWS
// returns, wrapped the way the SDK wraps them, so code that handles them
// here handles them on AWS.
//
// Most tests start from NewTest, which gives a region with one application
// already live behind an Elastic IP (see Fixture).
package sim
