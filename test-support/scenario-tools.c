/*
 * The scenario workload's small programs, one multi-call binary named by
 * argv[0] (test-support/scenarios.ts compiles it statically and copies it
 * under each name):
 *
 *   hello               prints a greeting (/hello, /home/user1/hello).
 *   readwrite -r FILE   prints FILE; readwrite -w FILE appends a line to it
 *                       (/readwrite, /home/user1/readwrite).
 *   arping [-c N] [-w S] [-I IFACE] ADDRESS
 *                       a stand-in for arping (/usr/sbin/arping). The
 *                       KubeArmor workload's arping uses libpcap, which opens
 *                       socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL)); this
 *                       opens the same socket, binds it to IFACE (default:
 *                       the first interface that is up and not loopback, else
 *                       lo), sends N ARP requests for ADDRESS (default 1) and
 *                       listens up to S seconds (default 1) for replies.
 *                       Exit status: 1 when the socket cannot be opened or a
 *                       request cannot be sent, 0 once the requests are sent:
 *                       on a loopback-only network no neighbour can answer,
 *                       and the scenarios judge the socket, not the reply.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <libgen.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/if_ether.h>
#include <netpacket/packet.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int hello(void)
{
	puts("helloworld");
	return 0;
}

static int readwrite(int argc, char **argv)
{
	FILE *file;
	char buffer[4096];
	size_t count;

	if (argc != 3 || (strcmp(argv[1], "-r") != 0 && strcmp(argv[1], "-w") != 0)) {
		fprintf(stderr, "usage: readwrite -r|-w FILE\n");
		return 2;
	}
	file = fopen(argv[2], argv[1][1] == 'r' ? "r" : "a");
	if (!file) {
		fprintf(stderr, "readwrite: %s: %s\n", argv[2], strerror(errno));
		return 1;
	}
	if (argv[1][1] == 'r') {
		while ((count = fread(buffer, 1, sizeof(buffer), file)) > 0)
			fwrite(buffer, 1, count, stdout);
	} else if (fputs("written by readwrite\n", file) < 0) {
		fprintf(stderr, "readwrite: %s: %s\n", argv[2], strerror(errno));
		fclose(file);
		return 1;
	}
	return fclose(file) == 0 ? 0 : 1;
}

static const char *default_interface(void)
{
	static char name[IF_NAMESIZE];
	struct ifaddrs *list, *entry;

	strcpy(name, "lo");
	if (getifaddrs(&list) != 0)
		return name;
	for (entry = list; entry; entry = entry->ifa_next) {
		if ((entry->ifa_flags & IFF_UP) && !(entry->ifa_flags & IFF_LOOPBACK)) {
			snprintf(name, sizeof(name), "%s", entry->ifa_name);
			break;
		}
	}
	freeifaddrs(list);
	return name;
}

static int arping(int argc, char **argv)
{
	const char *interface = NULL;
	int count = 1, seconds = 1, option, fd, index, sent, replies = 0;
	struct in_addr target;
	struct sockaddr_ll address;
	struct ifreq request;
	unsigned char frame[ETH_HLEN + sizeof(struct ether_arp)];
	struct ether_header *ethernet = (struct ether_header *)frame;
	struct ether_arp *arp = (struct ether_arp *)(frame + ETH_HLEN);
	time_t deadline;

	while ((option = getopt(argc, argv, "c:w:I:")) != -1) {
		if (option == 'c')
			count = atoi(optarg);
		else if (option == 'w')
			seconds = atoi(optarg);
		else if (option == 'I')
			interface = optarg;
		else
			return 2;
	}
	if (optind != argc - 1 || inet_pton(AF_INET, argv[optind], &target) != 1) {
		fprintf(stderr, "usage: arping [-c N] [-w S] [-I IFACE] IPV4-ADDRESS\n");
		return 2;
	}
	fd = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
	if (fd < 0) {
		fprintf(stderr, "arping: socket(AF_PACKET, SOCK_RAW, ETH_P_ALL): %s\n", strerror(errno));
		return 1;
	}
	if (!interface)
		interface = default_interface();
	index = (int)if_nametoindex(interface);
	if (index == 0) {
		fprintf(stderr, "arping: interface %s: %s\n", interface, strerror(errno));
		return 1;
	}
	memset(&request, 0, sizeof(request));
	snprintf(request.ifr_name, sizeof(request.ifr_name), "%s", interface);
	if (ioctl(fd, SIOCGIFHWADDR, &request) != 0) {
		fprintf(stderr, "arping: SIOCGIFHWADDR %s: %s\n", interface, strerror(errno));
		return 1;
	}
	memset(&address, 0, sizeof(address));
	address.sll_family = AF_PACKET;
	address.sll_protocol = htons(ETH_P_ARP);
	address.sll_ifindex = index;
	address.sll_halen = ETH_ALEN;
	memset(address.sll_addr, 0xff, ETH_ALEN);

	memset(frame, 0, sizeof(frame));
	memset(ethernet->ether_dhost, 0xff, ETH_ALEN);
	memcpy(ethernet->ether_shost, request.ifr_hwaddr.sa_data, ETH_ALEN);
	ethernet->ether_type = htons(ETHERTYPE_ARP);
	arp->arp_hrd = htons(ARPHRD_ETHER);
	arp->arp_pro = htons(ETHERTYPE_IP);
	arp->arp_hln = ETH_ALEN;
	arp->arp_pln = 4;
	arp->arp_op = htons(ARPOP_REQUEST);
	memcpy(arp->arp_sha, request.ifr_hwaddr.sa_data, ETH_ALEN);
	memcpy(arp->arp_tpa, &target, 4);

	printf("ARPING %s on %s\n", argv[optind], interface);
	for (sent = 0; sent < count; sent++) {
		if (sendto(fd, frame, sizeof(frame), 0, (struct sockaddr *)&address, sizeof(address)) < 0) {
			fprintf(stderr, "arping: sendto: %s\n", strerror(errno));
			return 1;
		}
	}
	deadline = time(NULL) + seconds;
	while (time(NULL) < deadline) {
		struct pollfd ready = { .fd = fd, .events = POLLIN };
		unsigned char reply[1500];
		ssize_t length;

		if (poll(&ready, 1, 100) <= 0)
			continue;
		length = recv(fd, reply, sizeof(reply), 0);
		if (length >= (ssize_t)sizeof(frame)) {
			struct ether_header *in_ethernet = (struct ether_header *)reply;
			struct ether_arp *in_arp = (struct ether_arp *)(reply + ETH_HLEN);

			if (ntohs(in_ethernet->ether_type) == ETHERTYPE_ARP && ntohs(in_arp->arp_op) == ARPOP_REPLY &&
			    memcmp(in_arp->arp_spa, &target, 4) == 0)
				replies++;
		}
	}
	printf("sent %d request(s), %d repl%s\n", sent, replies, replies == 1 ? "y" : "ies");
	return 0;
}

int main(int argc, char **argv)
{
	const char *name = basename(argv[0]);

	if (strcmp(name, "hello") == 0)
		return hello();
	if (strcmp(name, "readwrite") == 0)
		return readwrite(argc, argv);
	if (strcmp(name, "arping") == 0)
		return arping(argc, argv);
	fprintf(stderr, "%s: run me as hello, readwrite or arping\n", name);
	return 2;
}
