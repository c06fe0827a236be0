"""The EKS study network: one public /24 and one private /18 subnet per zone (the VPC CNI gives
every pod a subnet IP, so 256 nodes need thousands), one NAT gateway in the node zone."""

from __future__ import annotations

from pulumi import ResourceOptions

from infra.clusters.eks.aws_sdk import ec2
from infra.clusters.eks.base import EksParts
from infra.spec.eks import EksClusterSpec

VPC_CIDR = "10.0.0.0/16"
ALL = "0.0.0.0/0"


def private_cidr(i: int) -> str:
    return f"10.0.{64 * i}.0/18"


def public_cidr(i: int) -> str:
    return f"10.0.{192 + i}.0/24"


class Network(EksParts):
    def _network(self, spec: EksClusterSpec) -> None:
        name, child = self._name, self._child
        self.vpc = ec2.Vpc(
            f"{name}-vpc",
            ec2.VpcArgs(
                cidr_block=VPC_CIDR,
                enable_dns_hostnames=True,  # nodes register with the control plane by DNS name
                enable_dns_support=True,
                tags=self._tags("vpc"),
            ),
            opts=child,
        )
        self.igw = ec2.InternetGateway(
            f"{name}-igw",
            ec2.InternetGatewayArgs(vpc_id=self.vpc.id, tags=self._tags("igw")),
            opts=child,
        )
        self.public_subnets: list[ec2.Subnet] = []
        self.private_subnets: list[ec2.Subnet] = []
        for i, zone in enumerate(spec.zones):
            self.public_subnets.append(
                self._subnet("public", zone, public_cidr(i), "kubernetes.io/role/elb", public=True)
            )
            self.private_subnets.append(
                self._subnet("private", zone, private_cidr(i), "kubernetes.io/role/internal-elb")
            )
        public_rt = self._route_table(
            "public", ec2.RouteTableRouteArgs(cidr_block=ALL, gateway_id=self.igw.id)
        )
        # One NAT gateway, in the node zone: cross-AZ NAT traffic is billed, a second NAT is not
        # worth it for a cluster that lives a few hours.
        nat_index = spec.zones.index(spec.zone) if spec.zone in spec.zones else 0
        eip = ec2.Eip(
            f"{name}-nat-ip", ec2.EipArgs(domain="vpc", tags=self._tags("nat-ip")), opts=child
        )
        self.nat = ec2.NatGateway(
            f"{name}-nat",
            ec2.NatGatewayArgs(
                allocation_id=eip.id,
                subnet_id=self.public_subnets[nat_index].id,
                tags=self._tags("nat"),
            ),
            opts=ResourceOptions(parent=self, provider=self.aws_provider, depends_on=[self.igw]),
        )
        private_rt = self._route_table(
            "private", ec2.RouteTableRouteArgs(cidr_block=ALL, nat_gateway_id=self.nat.id)
        )
        self.route_associations = []
        for zone, pub, priv in zip(
            spec.zones, self.public_subnets, self.private_subnets, strict=True
        ):
            for kind, subnet, rt in (("public", pub, public_rt), ("private", priv, private_rt)):
                self.route_associations.append(
                    ec2.RouteTableAssociation(
                        f"{name}-{kind}-rta-{zone}",
                        ec2.RouteTableAssociationArgs(subnet_id=subnet.id, route_table_id=rt.id),
                        opts=child,
                    )
                )

    def _subnet(
        self, kind: str, zone: str, cidr: str, elb_role_tag: str, public: bool = False
    ) -> ec2.Subnet:
        """One `kind` (public/private) subnet in `zone`, tagged for the cluster and for the load
        balancers of that kind; only public subnets give instances a public IP."""
        owned = {f"kubernetes.io/cluster/{self._name}": "shared"}
        return ec2.Subnet(
            f"{self._name}-{kind}-{zone}",
            ec2.SubnetArgs(
                vpc_id=self.vpc.id,
                availability_zone=zone,
                cidr_block=cidr,
                map_public_ip_on_launch=True if public else None,  # None: left out
                tags=self._tags(f"{kind}-{zone}", **owned, **{elb_role_tag: "1"}),
            ),
            opts=self._child,
        )

    def _route_table(self, kind: str, default: ec2.RouteTableRouteArgs) -> ec2.RouteTable:
        """The route table of the `kind` subnets: one default route (internet gateway or NAT)."""
        return ec2.RouteTable(
            f"{self._name}-{kind}-rt",
            ec2.RouteTableArgs(vpc_id=self.vpc.id, routes=[default], tags=self._tags(f"{kind}-rt")),
            opts=self._child,
        )
