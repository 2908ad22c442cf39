/* manifest_priv.h - shared by manifest.c (parsing) and service.c (use). */
#ifndef HERO_MANIFEST_PRIV_H
#define HERO_MANIFEST_PRIV_H

/* Why S is not an acceptable version string, or NULL if it is. */
const char *hero_version_problem(const char *s);

#endif
