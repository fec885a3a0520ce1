// The names of the attributes a patient most often sees in the upload page's preview of
// what is removed, in the page's language (the profile's names, uploads/dicom/profile/,
// are DICOM's English: PS3.6 §6). Other attributes keep the standard's English name.
import { gettext } from "./i18n.js";

export const ATTRIBUTE_NAMES = {
  "0008,0020": gettext("Study Date"),
  "0008,0021": gettext("Series Date"),
  "0008,0022": gettext("Acquisition Date"),
  "0008,0023": gettext("Content Date"),
  "0008,0030": gettext("Study Time"),
  "0008,0050": gettext("Accession Number"),
  "0008,0080": gettext("Institution Name"),
  "0008,0081": gettext("Institution Address"),
  "0008,0090": gettext("Referring Physician's Name"),
  "0008,1010": gettext("Station Name"),
  "0008,1030": gettext("Study Description"),
  "0008,103E": gettext("Series Description"),
  "0008,1040": gettext("Institutional Department Name"),
  "0008,1050": gettext("Performing Physician's Name"),
  "0008,1070": gettext("Operators' Name"),
  "0010,0010": gettext("Patient's Name"),
  "0010,0020": gettext("Patient ID"),
  "0010,0030": gettext("Patient's Birth Date"),
  "0010,1000": gettext("Other Patient IDs"),
  "0010,1001": gettext("Other Patient Names"),
  "0010,1040": gettext("Patient's Address"),
  "0010,2154": gettext("Patient's Telephone Numbers"),
  "0010,21B0": gettext("Additional Patient History"),
  "0018,1000": gettext("Device Serial Number"),
  "0020,0010": gettext("Study ID"),
  "0032,1032": gettext("Requesting Physician"),
};
