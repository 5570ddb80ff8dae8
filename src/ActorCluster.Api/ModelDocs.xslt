<?xml version="1.0" encoding="utf-8"?>
<!-- Keeps, of the client library's documentation, only the summaries of its model types and their properties
     (Kubernetes' own API descriptions): 1.7 MB of the 25 MB file, embedded for the OpenAPI schemas. -->
<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">
  <xsl:output method="xml" indent="no" encoding="utf-8" />
  <xsl:template match="/">
    <doc>
      <members>
        <xsl:for-each select="/doc/members/member[starts-with(@name, 'T:k8s.Models.') or starts-with(@name, 'P:k8s.Models.')]">
          <member name="{@name}"><summary><xsl:value-of select="summary" /></summary></member>
        </xsl:for-each>
      </members>
    </doc>
  </xsl:template>
</xsl:stylesheet>
