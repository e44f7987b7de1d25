return await ChunkStore.Backup.BackupCli.RunAsync(args).ConfigureAwait(false);
