package sim

import (
	"context"
	"maps"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
)

// SNS is the simulated SNS API: Publish to the region's topics, with
// every message kept for assertions. It implements awsapi.SNS.
type SNS struct{ r *Region }

// Message is one published notification.
type Message struct {
	ID         string
	TopicARN   string
	Subject    string
	Body       string
	Attributes map[string]string // string values of the message attributes
	Caller     string
	At         time.Time
}

// AddTopic creates a topic (the fixture creates Options.TopicARN).
func (r *Region) AddTopic(arn string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.topics[arn] = true
}

// Messages returns every message published, oldest first.
func (r *Region) Messages() []Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Message(nil), r.messages...)
}

// Publish sends a message to a topic; an unknown topic is NotFound, an
// empty or oversized message InvalidParameter.
func (s *SNS) Publish(ctx context.Context, in *sns.PublishInput, _ ...func(*sns.Options)) (*sns.PublishOutput, error) {
	return call(ctx, s.r, ServiceSNS, "Publish", in, func(caller string) (*sns.PublishOutput, error) {
		r := s.r
		if in.Message == nil {
			return nil, paramRequired("PublishInput", "Message")
		}
		topic := aws.ToString(in.TopicArn)
		if topic == "" {
			topic = aws.ToString(in.TargetArn)
		}
		if !r.topics[topic] {
			return nil, apiError(ServiceSNS, "NotFound", "Topic does not exist")
		}
		switch {
		case *in.Message == "":
			return nil, apiError(ServiceSNS, "InvalidParameter", "Invalid parameter: Empty message")
		case len(*in.Message) > 256*1024:
			return nil, apiError(ServiceSNS, "InvalidParameter", "Invalid parameter: Message too long")
		}
		attrs := map[string]string{}
		for k, v := range in.MessageAttributes {
			attrs[k] = aws.ToString(v.StringValue)
		}
		m := Message{ID: r.uuid(), TopicARN: topic, Subject: aws.ToString(in.Subject), Body: *in.Message,
			Attributes: maps.Clone(attrs), Caller: caller, At: r.now()}
		r.messages = append(r.messages, m)
		return &sns.PublishOutput{MessageId: aws.String(m.ID)}, nil
	})
}
