/* tls.h - TLS settings shared by the HTTP server (libmicrohttpd over GnuTLS) and
 * the HTTP client (libcurl): PEM files read once, checked with GnuTLS at start,
 * and a verified-peer check for mutual TLS.
 *
 * Nomad's `tls { http = true  ca_file cert_file key_file  verify_https_client }`
 * maps onto struct tls_config; the CLI's -ca-cert/-client-cert/-client-key and
 * DROVER_CACERT/DROVER_CLIENT_CERT/DROVER_CLIENT_KEY (NOMAD_* accepted) onto
 * struct tls_client. No crypto is done here: GnuTLS does it all.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct error;

/* PEM files are small; anything bigger is a mistake (a wrong path, a binary). */
#define TLS_PEM_MAX (1024u * 1024u)

/* A listener's settings. Strings are borrowed. http false: plain HTTP. */
struct tls_config {
        bool http;
        const char *ca_file;   /* CA that signs client certificates (and peers') */
        const char *cert_file; /* this listener's certificate chain */
        const char *key_file;  /* its private key (unencrypted PEM) */
        bool verify_client;    /* verify_https_client: a client certificate signed by ca_file is required */
};

/* The PEM contents a listener hands to libmicrohttpd; owned, freed by tls_pems_free. */
struct tls_pems {
        char *ca;
        char *cert;
        char *key;
};

/* Read a file of at most TLS_PEM_MAX bytes, NUL-terminated, into *ret (malloc'd). */
int tls_read_file(const char *path, char **ret, struct error *err);

/* Validate cfg (files present when http is on, verify_client needs ca_file), read
 * the files and check with GnuTLS that the key matches the certificate and that the
 * CA parses. On success *ret holds the PEMs (ca NULL when no ca_file). */
int tls_config_load(const struct tls_config *cfg, struct tls_pems *ret, struct error *err);
void tls_pems_free(struct tls_pems *p);

/* session is a gnutls_session_t (void * keeps GnuTLS out of callers' headers).
 * 0 when the peer presented a certificate that verifies against the session's
 * trust list; negative with err saying why not (none sent, unknown CA, expired). */
int tls_peer_verify(void *session, struct error *err);

/* Client side: which CA to trust and which certificate to present. Empty = unset. */
struct tls_client {
        char ca_cert[4096];
        char client_cert[4096];
        char client_key[4096];
};

/* Fill the unset fields of c from DROVER_CACERT, DROVER_CLIENT_CERT and
 * DROVER_CLIENT_KEY, falling back to NOMAD_CACERT, NOMAD_CLIENT_CERT and
 * NOMAD_CLIENT_KEY. Returns -ENAMETOOLONG when a value does not fit. */
int tls_client_from_env(struct tls_client *c, struct error *err);
/* A certificate without its key (or the reverse) is refused; files must be readable. */
int tls_client_check(const struct tls_client *c, struct error *err);
