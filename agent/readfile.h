/*
 * readfile.h (internal to agent/): the one reader of the files meterd is
 * pointed at (meterd.conf, the pipeline file). A path can name anything: a
 * FIFO would block the event loop forever, /dev/zero never ends, a directory
 * reads as nothing. So the file is opened without blocking, what was opened is
 * checked (a regular file within a size bound) and at most max + 1 bytes are
 * read. Symlinks are followed on purpose: Kubernetes ConfigMaps are symlinks.
 */
#ifndef METERD_AGENT_READFILE_H
#define METERD_AGENT_READFILE_H

#include <stddef.h>

/*
 * Reads path whole into *buf (NUL-terminated, *len bytes before the NUL;
 * free() it). Returns -1 with "path: what it is; expected ..." in err when
 * the path is not a regular file, holds more than max bytes or cannot be read.
 */
int agent_read_file(const char *path, size_t max, char **buf, size_t *len, char *err,
                    size_t errlen);

#endif
