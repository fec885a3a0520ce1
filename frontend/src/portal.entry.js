// Shared browser helpers exposed to the portal's pages.
import { isDicom, summarize } from "./dicom.js";

window.PortalDicom = { isDicom, summarize };
