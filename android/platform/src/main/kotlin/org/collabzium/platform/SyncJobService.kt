// Sync on JobScheduler, only with a network: periodic, and one-off for push wake-ups (WAKE_JOB_ID).
// The round goes through WakeupHandler, which also makes a due automatic backup.
package org.collabzium.platform

import android.app.job.JobInfo
import android.app.job.JobParameters
import android.app.job.JobScheduler
import android.app.job.JobService
import android.content.ComponentName
import android.content.Context

class SyncJobService : JobService() {
    @Volatile private var worker: Thread? = null

    override fun onStartJob(params: JobParameters): Boolean {
        worker = Thread {
            val ok = CollabziumServices.get(applicationContext).syncInBackground()
            // Not synced (offline, locked store): let JobScheduler back off and retry.
            jobFinished(params, !ok)
        }.also { it.start() }
        return true
    }

    override fun onStopJob(params: JobParameters): Boolean {
        worker?.interrupt()
        return true // everything is kept in the outbox; run again later
    }

    companion object {
        const val JOB_ID = 4201
        const val WAKE_JOB_ID = 4202

        /**
         * A push wake-up: one sync round as soon as there is a network. One-off, and replacing a
         * pending one, so a burst of wake-ups runs one round.
         */
        fun wakeNow(context: Context) {
            val js = context.getSystemService(Context.JOB_SCHEDULER_SERVICE) as JobScheduler
            val job = JobInfo.Builder(WAKE_JOB_ID, ComponentName(context, SyncJobService::class.java))
                .setRequiredNetworkType(JobInfo.NETWORK_TYPE_ANY)
                .build()
            js.schedule(job)
        }

        fun schedule(context: Context, periodMillis: Long = 30 * 60 * 1000L) {
            val js = context.getSystemService(Context.JOB_SCHEDULER_SERVICE) as JobScheduler
            val job = JobInfo.Builder(JOB_ID, ComponentName(context, SyncJobService::class.java))
                .setRequiredNetworkType(JobInfo.NETWORK_TYPE_ANY)
                .setPeriodic(periodMillis)
                .setPersisted(true) // needs RECEIVE_BOOT_COMPLETED
                .build()
            js.schedule(job)
        }

        fun cancel(context: Context) {
            (context.getSystemService(Context.JOB_SCHEDULER_SERVICE) as JobScheduler).cancel(JOB_ID)
        }
    }
}
