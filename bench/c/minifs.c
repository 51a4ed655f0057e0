/* The smallest useful libfuse3 file system: the FUSE baseline of the bench.
 *
 * /status is read-only and holds a status-sized text; /reclaim is
 * write-only and accepts any write (as fakeproc's reclaim does). Files are
 * opened direct_io, like fakeproc's and every procfs-like FUSE file system,
 * so each read and write reaches this process.
 * usage: minifs MOUNTPOINT -f -s [-d]
 */
#define FUSE_USE_VERSION 35
#include <errno.h>
#include <fuse.h>
#include <string.h>
#include <sys/stat.h>

static char status_text[1536];

static int fs_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	(void)fi;
	memset(st, 0, sizeof *st);
	if (strcmp(path, "/") == 0) {
		st->st_mode = S_IFDIR | 0755;
		st->st_nlink = 2;
	} else if (strcmp(path, "/status") == 0) {
		st->st_mode = S_IFREG | 0444;
		st->st_nlink = 1;
	} else if (strcmp(path, "/reclaim") == 0) {
		st->st_mode = S_IFREG | 0200;
		st->st_nlink = 1;
	} else {
		return -ENOENT;
	}
	return 0;
}

static int fs_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t off,
		      struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
	(void)off; (void)fi; (void)flags;
	if (strcmp(path, "/") != 0)
		return -ENOENT;
	fill(buf, ".", NULL, 0, 0);
	fill(buf, "..", NULL, 0, 0);
	fill(buf, "status", NULL, 0, 0);
	fill(buf, "reclaim", NULL, 0, 0);
	return 0;
}

static int fs_open(const char *path, struct fuse_file_info *fi)
{
	if (strcmp(path, "/status") != 0 && strcmp(path, "/reclaim") != 0)
		return -ENOENT;
	fi->direct_io = 1;
	return 0;
}

static int fs_read(const char *path, char *buf, size_t size, off_t off,
		   struct fuse_file_info *fi)
{
	(void)fi;
	if (strcmp(path, "/status") != 0)
		return -EINVAL;
	size_t len = strlen(status_text);
	if ((size_t)off >= len)
		return 0;
	if (off + size > len)
		size = len - off;
	memcpy(buf, status_text + off, size);
	return (int)size;
}

static int fs_write(const char *path, const char *buf, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	(void)buf; (void)off; (void)fi;
	if (strcmp(path, "/reclaim") != 0)
		return -EINVAL;
	return (int)size;
}

static int fs_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
	(void)path; (void)size; (void)fi;
	return 0;
}

static const struct fuse_operations ops = {
	.getattr = fs_getattr,
	.readdir = fs_readdir,
	.open = fs_open,
	.read = fs_read,
	.write = fs_write,
	.truncate = fs_truncate,
};

int main(int argc, char *argv[])
{
	for (size_t i = 0; i + 1 < sizeof status_text; i++)
		status_text[i] = (i % 40 == 39) ? '\n' : 'x';
	return fuse_main(argc, argv, &ops, NULL);
}
