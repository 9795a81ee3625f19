"""The wire-facing DICOM import and image frame operations (see :mod:`.dicom_backend`)."""

from __future__ import annotations

from hi_widgets.sandbox.server.responses import Params, Responses


class DicomImportResponses(Responses):
    """StartDICOMImportJob, GetDICOMImportJob, ListDICOMImportJobs and GetImageFrame."""

    def start_dicom_import_job(self, params: Params) -> Params:
        return self.backend.start_dicom_import_job(
            datastore_id=params["datastoreId"],
            data_access_role_arn=params["dataAccessRoleArn"],
            input_s3_uri=params["inputS3Uri"],
            output_s3_uri=params["outputS3Uri"],
            job_name=params.get("jobName"),
            client_token=params.get("clientToken"),
            input_owner_account_id=params.get("inputOwnerAccountId"),
            import_configuration=params.get("importConfiguration"),
        )

    def get_dicom_import_job(self, params: Params) -> Params:
        return self.backend.get_dicom_import_job(
            datastore_id=params["datastoreId"], job_id=params["jobId"]
        )

    def list_dicom_import_jobs(self, params: Params) -> Params:
        return self.backend.list_dicom_import_jobs(
            datastore_id=params["datastoreId"],
            job_status=params.get("jobStatus"),
            next_token=params.get("nextToken"),
            max_results=params.get("maxResults"),
        )

    def get_image_frame(self, params: Params) -> Params:
        return self.backend.get_image_frame(
            datastore_id=params["datastoreId"],
            image_set_id=params["imageSetId"],
            image_frame_id=params["imageFrameInformation"]["imageFrameId"],
        )
