package sim

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

type address struct {
	allocationID, publicIP               string
	associationID, instanceID, privateIP string
	tags                                 tagSet
	// routes is where traffic to the public IP goes over time: each
	// association change takes effect Latencies.AssociateAddress after
	// the call. The last route at or before a moment is the one in force.
	routes []route
}

type route struct {
	at         time.Time
	instanceID string // "" while nothing receives the traffic
}

// trafficAt is the instance receiving the address's traffic at t.
func (a *address) trafficAt(t time.Time) string {
	id := ""
	for _, rt := range a.routes {
		if rt.at.After(t) {
			break
		}
		id = rt.instanceID
	}
	return id
}

func (a *address) routeTo(at time.Time, instanceID string) {
	a.routes = append(a.routes, route{at: at, instanceID: instanceID})
	// Keep routes ordered by time; a later call may take effect before
	// an earlier one only if latencies changed, which tests may do.
	for n := len(a.routes) - 1; n > 0 && a.routes[n].at.Before(a.routes[n-1].at); n-- {
		a.routes[n], a.routes[n-1] = a.routes[n-1], a.routes[n]
	}
}

// TrafficTarget is the instance that receives traffic sent to the
// Elastic IP now, "" if none: the association in force
// Latencies.AssociateAddress ago, not the one DescribeAddresses shows.
func (r *Region) TrafficTarget(allocationID string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.settle()
	a, ok := r.addresses[allocationID]
	if !ok {
		return ""
	}
	return a.trafficAt(r.now())
}

func (r *Region) holdsAddress(instanceID string) bool {
	for _, a := range r.addresses {
		if a.instanceID == instanceID {
			return true
		}
	}
	return false
}

func (r *Region) describeAddress(a *address) ec2types.Address {
	out := ec2types.Address{
		AllocationId:       aws.String(a.allocationID),
		PublicIp:           aws.String(a.publicIP),
		Domain:             ec2types.DomainTypeVpc,
		PublicIpv4Pool:     aws.String("amazon"),
		NetworkBorderGroup: aws.String(r.opts.Region),
		Tags:               a.tags.ec2(),
	}
	if a.associationID != "" {
		out.AssociationId = aws.String(a.associationID)
		out.InstanceId = aws.String(a.instanceID)
		out.PrivateIpAddress = aws.String(a.privateIP)
		out.NetworkInterfaceOwnerId = aws.String(r.opts.Account)
	}
	return out
}

// DescribeAddresses lists Elastic IPs by allocation id, public IP and
// filters (allocation-id, association-id, instance-id, public-ip,
// private-ip-address, domain, tag:<key>, tag-key).
func (e *EC2) DescribeAddresses(ctx context.Context, in *ec2.DescribeAddressesInput, _ ...func(*ec2.Options)) (*ec2.DescribeAddressesOutput, error) {
	return call(ctx, e.r, ServiceEC2, "DescribeAddresses", in, func(string) (*ec2.DescribeAddressesOutput, error) {
		r := e.r
		var list []*address
		for _, id := range in.AllocationIds {
			a, err := r.lookupAddress(id)
			if err != nil {
				return nil, err
			}
			list = append(list, a)
		}
		for _, ip := range in.PublicIps {
			a := r.addressByIP(ip)
			if a == nil {
				return nil, apiErrorf(ServiceEC2, "InvalidAddress.NotFound", "Address '%s' not found.", ip)
			}
			list = append(list, a)
		}
		if len(in.AllocationIds) == 0 && len(in.PublicIps) == 0 {
			for _, id := range r.addressOrder {
				list = append(list, r.addresses[id])
			}
		}
		out := &ec2.DescribeAddressesOutput{}
		for _, a := range list {
			ok, err := matches(in.Filters, a.tags, func(name string) ([]string, bool) {
				switch name {
				case "allocation-id":
					return one(a.allocationID)
				case "association-id":
					return one(a.associationID)
				case "instance-id":
					return one(a.instanceID)
				case "public-ip":
					return one(a.publicIP)
				case "private-ip-address":
					return one(a.privateIP)
				case "domain":
					return one("vpc")
				case "network-border-group":
					return one(r.opts.Region)
				}
				return nil, false
			})
			if err != nil {
				return nil, err
			}
			if ok {
				out.Addresses = append(out.Addresses, r.describeAddress(a))
			}
		}
		return out, nil
	})
}

func (r *Region) lookupAddress(id string) (*address, error) {
	if !validID(id, "eipalloc") {
		return nil, malformed("InvalidAllocationID.Malformed", id, "eipalloc")
	}
	a, ok := r.addresses[id]
	if !ok {
		return nil, apiErrorf(ServiceEC2, "InvalidAllocationID.NotFound", "The allocation ID '%s' does not exist", id)
	}
	return a, nil
}

func (r *Region) addressByIP(ip string) *address {
	for _, a := range r.addresses {
		if a.publicIP == ip {
			return a
		}
	}
	return nil
}

// AssociateAddress associates an Elastic IP with an instance. Without
// AllowReassociation an associated address is Resource.AlreadyAssociated;
// with it the address moves. An address already on the instance is
// replaced. Traffic follows Latencies.AssociateAddress later.
func (e *EC2) AssociateAddress(ctx context.Context, in *ec2.AssociateAddressInput, _ ...func(*ec2.Options)) (*ec2.AssociateAddressOutput, error) {
	return call(ctx, e.r, ServiceEC2, "AssociateAddress", in, func(string) (*ec2.AssociateAddressOutput, error) {
		r := e.r
		var a *address
		switch {
		case in.AllocationId != nil:
			var err error
			if a, err = r.lookupAddress(*in.AllocationId); err != nil {
				return nil, err
			}
		case in.PublicIp != nil:
			if a = r.addressByIP(*in.PublicIp); a == nil {
				return nil, apiErrorf(ServiceEC2, "InvalidAddress.NotFound", "Address '%s' not found.", *in.PublicIp)
			}
		default:
			return nil, apiError(ServiceEC2, "MissingParameter", "Either public IP or allocation id must be specified")
		}
		if in.InstanceId == nil {
			return nil, apiError(ServiceEC2, "MissingParameter", "The request must contain the parameter InstanceId")
		}
		list, err := r.lookupInstances([]string{*in.InstanceId})
		if err != nil {
			return nil, err
		}
		i := list[0]
		if i.state != stateRunning && i.state != stateStopped {
			return nil, apiErrorf(ServiceEC2, "InvalidInstanceID", "The %s instance '%s' is not in a valid state for this operation.", i.state, i.id)
		}
		if a.associationID != "" && !aws.ToBool(in.AllowReassociation) {
			return nil, apiErrorf(ServiceEC2, "Resource.AlreadyAssociated", "resource %s is already associated with associate-id %s", a.allocationID, a.associationID)
		}
		now := r.now()
		if a.instanceID != "" {
			r.releaseFrom(a)
		}
		for _, other := range r.addresses {
			if other != a && other.instanceID == i.id {
				r.disassociate(other, now.Add(r.lat.AssociateAddress))
			}
		}
		a.associationID = r.hexID("eipassoc")
		a.instanceID, a.privateIP = i.id, i.privateIP
		i.publicIP = a.publicIP
		a.routeTo(now.Add(r.lat.AssociateAddress), i.id)
		return &ec2.AssociateAddressOutput{AssociationId: aws.String(a.associationID)}, nil
	})
}

// DisassociateAddress removes an Elastic IP's association; the instance
// gets an auto-assigned public IP back if its subnet gives one.
func (e *EC2) DisassociateAddress(ctx context.Context, in *ec2.DisassociateAddressInput, _ ...func(*ec2.Options)) (*ec2.DisassociateAddressOutput, error) {
	return call(ctx, e.r, ServiceEC2, "DisassociateAddress", in, func(string) (*ec2.DisassociateAddressOutput, error) {
		r := e.r
		var a *address
		switch {
		case in.AssociationId != nil:
			for _, x := range r.addresses {
				if x.associationID != "" && x.associationID == *in.AssociationId {
					a = x
				}
			}
			if a == nil {
				return nil, apiErrorf(ServiceEC2, "InvalidAssociationID.NotFound", "The association ID '%s' does not exist", *in.AssociationId)
			}
		case in.PublicIp != nil:
			if a = r.addressByIP(*in.PublicIp); a == nil {
				return nil, apiErrorf(ServiceEC2, "InvalidAddress.NotFound", "Address '%s' not found.", *in.PublicIp)
			}
			if a.associationID == "" {
				return &ec2.DisassociateAddressOutput{}, nil
			}
		default:
			return nil, apiError(ServiceEC2, "MissingParameter", "Either public IP or association id must be specified")
		}
		r.disassociate(a, r.now().Add(r.lat.AssociateAddress))
		return &ec2.DisassociateAddressOutput{}, nil
	})
}

// disassociate clears an association; traffic stops reaching the
// instance at the given moment. Called with r.mu held.
func (r *Region) disassociate(a *address, trafficEnds time.Time) {
	r.releaseFrom(a)
	a.associationID, a.instanceID, a.privateIP = "", "", ""
	a.routeTo(trafficEnds, "")
}

// releaseFrom gives the instance losing the address its own public IP
// back, when it has one of its own and is not terminated.
func (r *Region) releaseFrom(a *address) {
	i := r.instances[a.instanceID]
	if i == nil || i.publicIP != a.publicIP {
		return
	}
	i.publicIP = ""
	if i.autoPublicIP && (i.state == stateRunning || i.state == statePending) {
		i.publicIP = r.publicIP(false)
	}
}
